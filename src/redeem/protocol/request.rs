//! The one list of operations: [`Request`] (a variant per operation), [`Answer`] (what each
//! answers) and [`Protocol::start`], the only place an operation is named.

use crate::redeem::{CheckoutId, ClientId};
use std::sync::Arc;

use super::operation::Port;
use super::{AppliedCode, Operation, Protocol, Redeemed};
use crate::card::{
    Attribution, CardId, CardSpec, GiftCard, LedgerEntry, Reference, ReversalReason,
};
use crate::code::{Code, ImportedCode};
use crate::money::{Currency, Money};
use crate::redeem::{
    Amended, Authorisation, BalanceCheck, Captured, CardCommand, CheckoutCards, CodeReplaced,
    IdempotencyKey, Issued, Pruned, RedeemError, RefundOutcome, RefundTo, Reversal, ReversalScope,
    Sweep, Voided,
};

/// Declares [`Request`] and [`Answer`] from one list: each operation's variant, its fields and
/// the type of its answer.
macro_rules! requests {
    ($(
        $(#[$doc:meta])*
        $variant:ident { $( $(#[$field_doc:meta])* $field:ident : $field_type:ty ),* $(,)? }
            -> $answer:ty;
    )*) => {
        /// A request to the protocol: one variant per operation, with what it needs to know.
        /// [`Protocol::start`] turns it into the [`Operation`] that carries it out; the
        /// drivers' methods ([`Redeemer::capture`](crate::store::Redeemer::capture), ...)
        /// build one and run it, and a host with I/O of its own can do the same.
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum Request {
            $(
                $(#[$doc])*
                $variant { $( $(#[$field_doc])* $field: $field_type ),* },
            )*
        }

        /// What a [`Request`] answers: the variant of the request's name, with its result.
        #[derive(Debug, Clone)]
        #[non_exhaustive]
        pub enum Answer {
            $(
                #[doc = concat!("The answer to [`Request::", stringify!($variant), "`].")]
                $variant($answer),
            )*
        }

        impl Request {
            /// The operation's name, as its variant is called.
            #[must_use]
            pub fn name(&self) -> &'static str {
                match self {
                    $( Request::$variant { .. } => stringify!($variant), )*
                }
            }
        }

        impl Answer {
            /// The operation's name, as its variant is called.
            #[must_use]
            pub fn name(&self) -> &'static str {
                match self {
                    $( Answer::$variant(_) => stringify!($variant), )*
                }
            }
        }
    };
}

requests! {
    /// Issue one card per spec (paid certificates, or a bulk batch), each with a notification
    /// carrying its code; specs without an expiry get one from the
    /// [`ExpiryPolicy`](crate::card::ExpiryPolicy).
    Issue {
        /// The request's idempotency key.
        key: IdempotencyKey,
        /// One per card.
        specs: Vec<CardSpec>,
    } -> Redeemed<Issued>;
    /// Issue the cards a paid order bought, under a key made from the order's reference, so
    /// that each is issued once however often the order is reported paid; an order that
    /// bought none issues nothing. [`Order::issue_request`](crate::shop::Order::issue_request)
    /// builds it.
    IssueForOrder {
        /// The order.
        order: Reference,
        /// One per certificate unit it bought.
        specs: Vec<CardSpec>,
    } -> Redeemed<Issued>;
    /// Issue a card under a code brought from another platform.
    Import {
        /// The request's idempotency key.
        key: IdempotencyKey,
        /// The code.
        code: ImportedCode,
        /// The card.
        spec: CardSpec,
    } -> Redeemed<Issued>;
    /// Look a code up and apply it to a checkout, through the guard.
    ApplyCode {
        /// The shopper, as the guard counts them.
        client: ClientId,
        /// The checkout.
        checkout: CheckoutId,
        /// The checkout's currency.
        currency: Currency,
        /// The code typed.
        code: Code,
    } -> AppliedCode;
    /// Take a code off a checkout, through the guard.
    RemoveCode {
        /// The shopper, as the guard counts them.
        client: ClientId,
        /// The checkout.
        checkout: CheckoutId,
        /// The code typed.
        code: Code,
    } -> ();
    /// What the card with a code can pay, through the guard.
    CheckBalance {
        /// The shopper, as the guard counts them.
        client: ClientId,
        /// The code typed.
        code: Code,
    } -> BalanceCheck;
    /// Hold `payable` on the checkout's cards.
    Authorise {
        /// The request's idempotency key.
        key: IdempotencyKey,
        /// The checkout.
        checkout: CheckoutId,
        /// What is to be paid.
        payable: Money,
    } -> Redeemed<Authorisation>;
    /// Change an open authorisation to hold `payable` instead.
    ChangeAuthorisation {
        /// The request's idempotency key.
        key: IdempotencyKey,
        /// The checkout.
        checkout: CheckoutId,
        /// What is to be paid now.
        payable: Money,
    } -> Redeemed<Authorisation>;
    /// Capture the checkout's holds.
    Capture {
        /// The request's idempotency key.
        key: IdempotencyKey,
        /// The checkout.
        checkout: CheckoutId,
    } -> Redeemed<Captured>;
    /// Capture `amount` of what the checkout holds and release the rest.
    CapturePart {
        /// The request's idempotency key.
        key: IdempotencyKey,
        /// The checkout.
        checkout: CheckoutId,
        /// What to capture.
        amount: Money,
    } -> Redeemed<Captured>;
    /// Release the checkout's holds.
    Void {
        /// The request's idempotency key.
        key: IdempotencyKey,
        /// The checkout.
        checkout: CheckoutId,
    } -> Redeemed<Voided>;
    /// Refund `amount` of what the checkout captured to the target `to` names.
    Refund {
        /// The request's idempotency key.
        key: IdempotencyKey,
        /// The checkout.
        checkout: CheckoutId,
        /// What to refund.
        amount: Money,
        /// Where it goes.
        to: RefundTo,
    } -> Redeemed<RefundOutcome>;
    /// Record the customer the host knows on a checkout.
    SetCustomer {
        /// The checkout.
        checkout: CheckoutId,
        /// The checkout's currency, should it be created.
        currency: Currency,
        /// The customer.
        customer: Reference,
    } -> ();
    /// Read a checkout's applied cards with the credit each gives it.
    CheckoutCards {
        /// The checkout.
        checkout: CheckoutId,
    } -> CheckoutCards;
    /// Carry out a back-office command on a card.
    Amend {
        /// The request's idempotency key.
        key: IdempotencyKey,
        /// The card.
        card: CardId,
        /// The command.
        command: CardCommand,
        /// Who asked, and why.
        by: Attribution,
    } -> Redeemed<Amended>;
    /// Give a card a new code.
    ReplaceCode {
        /// The request's idempotency key.
        key: IdempotencyKey,
        /// The card.
        card: CardId,
        /// Who asked, and why.
        by: Attribution,
    } -> Redeemed<CodeReplaced>;
    /// Block the cards an order bought, its purchase refunded or charged back.
    ReversePurchase {
        /// The request's idempotency key.
        key: IdempotencyKey,
        /// The order that bought the cards.
        order: Reference,
        /// Which of its cards.
        scope: ReversalScope,
        /// Why.
        reason: ReversalReason,
        /// Who asked, and why.
        by: Attribution,
    } -> Redeemed<Reversal>;
    /// Sweep up to `limit` cards that are due.
    Sweep {
        /// The most cards to sweep.
        limit: usize,
    } -> Sweep;
    /// Delete up to `limit` old idempotency records and ended guard windows.
    Prune {
        /// The most of each to delete.
        limit: usize,
    } -> Pruned;
    /// Read the card with this id.
    Card {
        /// The card.
        card: CardId,
    } -> Option<GiftCard>;
    /// Read a card's whole ledger, oldest first.
    History {
        /// The card.
        card: CardId,
    } -> Vec<LedgerEntry>;
}

impl Protocol {
    /// Starts `request`: the [`Operation`] that carries it out, which a driver polls and
    /// answers until it is done (see [`Operation`]).
    #[must_use]
    pub fn start(&self, request: Request) -> Operation<Answer> {
        let settings = self.clone();
        Operation::new(Arc::clone(&self.turn), move |port| async move {
            settings.carry_out(&port, request).await
        })
    }

    async fn carry_out(&self, port: &Port, request: Request) -> Result<Answer, RedeemError> {
        Ok(match request {
            Request::Issue { key, specs } => Answer::Issue(self.issue(port, key, specs).await?),
            Request::IssueForOrder { order, specs } => {
                Answer::IssueForOrder(self.issue_for_order(port, order, specs).await?)
            }
            Request::Import { key, code, spec } => {
                Answer::Import(self.import(port, key, code, spec).await?)
            }
            Request::ApplyCode {
                client,
                checkout,
                currency,
                code,
            } => Answer::ApplyCode(
                self.apply_code(port, client, checkout, currency, code)
                    .await?,
            ),
            Request::RemoveCode {
                client,
                checkout,
                code,
            } => Answer::RemoveCode(self.remove_code(port, client, checkout, code).await?),
            Request::CheckBalance { client, code } => {
                Answer::CheckBalance(self.check_balance(port, client, code).await?)
            }
            Request::Authorise {
                key,
                checkout,
                payable,
            } => Answer::Authorise(self.authorise(port, key, checkout, payable).await?),
            Request::ChangeAuthorisation {
                key,
                checkout,
                payable,
            } => Answer::ChangeAuthorisation(
                self.change_authorisation(port, key, checkout, payable)
                    .await?,
            ),
            Request::Capture { key, checkout } => {
                Answer::Capture(self.capture(port, key, checkout).await?)
            }
            Request::CapturePart {
                key,
                checkout,
                amount,
            } => Answer::CapturePart(self.capture_part(port, key, checkout, amount).await?),
            Request::Void { key, checkout } => Answer::Void(self.void(port, key, checkout).await?),
            Request::Refund {
                key,
                checkout,
                amount,
                to,
            } => Answer::Refund(self.refund_to(port, key, checkout, amount, to).await?),
            Request::SetCustomer {
                checkout,
                currency,
                customer,
            } => Answer::SetCustomer(
                self.set_customer(port, checkout, currency, customer)
                    .await?,
            ),
            Request::CheckoutCards { checkout } => {
                Answer::CheckoutCards(self.checkout_cards(port, checkout).await?)
            }
            Request::Amend {
                key,
                card,
                command,
                by,
            } => Answer::Amend(self.amend(port, key, card, command, by).await?),
            Request::ReplaceCode { key, card, by } => {
                Answer::ReplaceCode(self.replace_code(port, key, card, by).await?)
            }
            Request::ReversePurchase {
                key,
                order,
                scope,
                reason,
                by,
            } => Answer::ReversePurchase(
                self.reverse_purchase(port, key, order, scope, reason, by)
                    .await?,
            ),
            Request::Sweep { limit } => Answer::Sweep(self.sweep(port, limit).await?),
            Request::Prune { limit } => Answer::Prune(self.prune(port, limit).await?),
            Request::History { card } => Answer::History(self.history(port, card).await?),
            Request::Card { card } => Answer::Card(
                self.reread(port, |port| port.card(card))
                    .await?
                    .map(|c| c.value),
            ),
        })
    }
}
