//! The money moves on a checkout: authorise, change an authorisation, capture (whole or in
//! part), void, refund; and the checkout's reads (its cards, its customer).

use crate::redeem::CheckoutId;
use chrono::{DateTime, Utc};

use super::operation::Port;
use super::settings::hold_expires_at;
use super::{Protocol, Redeemed};
use crate::card::{CardId, GiftCard, Reference};
use crate::code::Code;
use crate::money::{Currency, Money};
use crate::redeem::{
    self, AllocationOrder, Amended, Authorisation, Captured, Changes, Checkout, CodeReplaced,
    Decision, IdempotencyKey, Issued, Outcome, RecordWrite, RecordedRequest, RedeemError,
    RefundOutcome, Voided,
};

impl Protocol {
    /// Holds `payable` on the checkout's cards, in the [`AllocationOrder`] set (lowest first
    /// by default).
    pub(super) async fn authorise(
        &self,
        port: &Port,
        key: IdempotencyKey,
        checkout: CheckoutId,
        payable: Money,
    ) -> Result<Redeemed<Authorisation>, RedeemError> {
        let request = RecordedRequest::Authorise {
            checkout: checkout.clone(),
            payable,
        };
        self.hold(port, key, checkout, request, payable, redeem::authorise)
            .await
    }

    /// Places holds for `payable` through `decide` (a first authorisation or a changed one),
    /// lasting as long as an authorisation's, in the [`AllocationOrder`] set.
    async fn hold(
        &self,
        port: &Port,
        key: IdempotencyKey,
        checkout: CheckoutId,
        request: RecordedRequest,
        payable: Money,
        decide: HoldDecision,
    ) -> Result<Redeemed<Authorisation>, RedeemError> {
        let (ttl, order) = (self.hold_ttl, self.allocation);
        self.on_checkout(
            port,
            key,
            checkout,
            request,
            Outcome::Authorised,
            unwrap_authorised,
            Cards::Applied,
            move |_, stored, cards, now, _| {
                decide(
                    stored,
                    cards,
                    payable,
                    now,
                    hold_expires_at(ttl, now),
                    order,
                )
            },
        )
        .await
    }

    /// Captures the checkout's holds (order completed), running the leftover strategy.
    pub(super) async fn capture(
        &self,
        port: &Port,
        key: IdempotencyKey,
        checkout: CheckoutId,
    ) -> Result<Redeemed<Captured>, RedeemError> {
        let request = RecordedRequest::Capture {
            checkout: checkout.clone(),
        };
        self.on_checkout(
            port,
            key,
            checkout,
            request,
            Outcome::Captured,
            unwrap_captured,
            Cards::Needed,
            |settings, stored, cards, now, fresh| {
                redeem::capture(stored, cards, &*settings.strategy, now, fresh)
            },
        )
        .await
    }

    /// Releases the checkout's holds (payment failed).
    pub(super) async fn void(
        &self,
        port: &Port,
        key: IdempotencyKey,
        checkout: CheckoutId,
    ) -> Result<Redeemed<Voided>, RedeemError> {
        let request = RecordedRequest::Void {
            checkout: checkout.clone(),
        };
        self.on_checkout(
            port,
            key,
            checkout,
            request,
            Outcome::Voided,
            unwrap_voided,
            Cards::Needed,
            |_, stored, cards, now, _| redeem::void(stored, cards, now),
        )
        .await
    }

    /// Refunds `amount` of what the checkout captured to the target `to` names
    /// ([`redeem::refund_to`]). The target is part of the request its key records: a refund
    /// to the cards used is [`RecordedRequest::Refund`], one
    /// onto a new card [`RecordedRequest::RefundToNewCard`].
    pub(super) async fn refund_to(
        &self,
        port: &Port,
        key: IdempotencyKey,
        checkout: CheckoutId,
        amount: Money,
        to: redeem::RefundTo,
    ) -> Result<Redeemed<RefundOutcome>, RedeemError> {
        let request = match to {
            redeem::RefundTo::NewCard => RecordedRequest::RefundToNewCard {
                checkout: checkout.clone(),
                amount,
            },
            _ => RecordedRequest::Refund {
                checkout: checkout.clone(),
                amount,
            },
        };
        self.on_checkout(
            port,
            key,
            checkout,
            request,
            Outcome::Refunded,
            unwrap_refunded,
            Cards::Needed,
            move |settings, stored, cards, now, fresh| {
                redeem::refund_to(stored, cards, amount, to, &*settings.strategy, now, fresh)
            },
        )
        .await
    }

    /// Captures `amount` of what the checkout holds and releases the rest
    /// ([`redeem::capture_part`]), running the leftover strategy on the cards that paid.
    pub(super) async fn capture_part(
        &self,
        port: &Port,
        key: IdempotencyKey,
        checkout: CheckoutId,
        amount: Money,
    ) -> Result<Redeemed<Captured>, RedeemError> {
        let request = RecordedRequest::CapturePart {
            checkout: checkout.clone(),
            amount,
        };
        self.on_checkout(
            port,
            key,
            checkout,
            request,
            Outcome::Captured,
            unwrap_captured,
            Cards::Needed,
            move |settings, stored, cards, now, fresh| {
                redeem::capture_part(stored, cards, amount, &*settings.strategy, now, fresh)
            },
        )
        .await
    }

    /// Changes an open authorisation to hold `payable` instead, without a void
    /// ([`redeem::change_authorisation`]), in the [`AllocationOrder`] set, with fresh holds
    /// that last as long as an authorisation's.
    pub(super) async fn change_authorisation(
        &self,
        port: &Port,
        key: IdempotencyKey,
        checkout: CheckoutId,
        payable: Money,
    ) -> Result<Redeemed<Authorisation>, RedeemError> {
        let request = RecordedRequest::ChangeAuthorisation {
            checkout: checkout.clone(),
            payable,
        };
        self.hold(
            port,
            key,
            checkout,
            request,
            payable,
            redeem::change_authorisation,
        )
        .await
    }

    /// Records the customer the host knows on `checkout` ([`redeem::set_customer`]), creating
    /// it in `currency` if no code was applied yet. Idempotent by nature (recording the same
    /// customer twice changes nothing), so it takes no key.
    pub(super) async fn set_customer(
        &self,
        port: &Port,
        checkout: CheckoutId,
        currency: Currency,
        customer: Reference,
    ) -> Result<(), RedeemError> {
        let settings = self;
        settings
            .retry(port, |port, _now| {
                let (checkout, customer) = (checkout.clone(), customer.clone());
                async move {
                    let stored = port.checkout(&checkout).await?;
                    let expected_version = stored.as_ref().map(|s| s.version);
                    let unchanged = stored
                        .as_ref()
                        .is_some_and(|s| s.value.customer() == Some(&customer));
                    let updated = redeem::set_customer(
                        stored.map(|s| s.value),
                        checkout,
                        currency,
                        customer,
                    )?;
                    let changes = Changes {
                        checkout: (!unchanged).then_some(RecordWrite {
                            value: updated,
                            expected_version,
                        }),
                        ..Changes::default()
                    };
                    Ok(((), changes))
                }
            })
            .await
    }

    /// Reads a checkout's applied cards with the credit each gives it ([`CheckoutCards`](redeem::CheckoutCards)),
    /// for the totals a checkout page shows before it authorises: a read, with no key and
    /// nothing written. A checkout no code was applied to yet reads as one without cards.
    pub(super) async fn checkout_cards(
        &self,
        port: &Port,
        checkout: CheckoutId,
    ) -> Result<redeem::CheckoutCards, RedeemError> {
        let order = self.allocation;
        let now = port.now().await?;
        let read = self
            .reread(port, |port| async {
                let Some(stored) = port.checkout(&checkout).await? else {
                    return Ok(None);
                };
                let mut cards = Vec::with_capacity(stored.value.applied().len());
                for &id in stored.value.applied() {
                    cards.push(port.existing_card(id).await?.value);
                }
                Ok(Some((stored.value, cards)))
            })
            .await?;
        match read {
            None => redeem::checkout_cards(checkout, None, &[], order, now),
            Some((stored, cards)) => {
                redeem::checkout_cards(checkout, Some(&stored), &cards, order, now)
            }
        }
    }

    /// A money move on a checkout under its key: read the checkout and the `cards` it names
    /// (with their versions), then `decide`, which may draw fresh card ids and codes.
    #[allow(clippy::too_many_arguments)]
    async fn on_checkout<T, D>(
        &self,
        port: &Port,
        key: IdempotencyKey,
        checkout: CheckoutId,
        request: RecordedRequest,
        wrap: fn(T) -> Outcome,
        unwrap: fn(Outcome) -> Option<T>,
        cards: Cards,
        decide: D,
    ) -> Result<Redeemed<T>, RedeemError>
    where
        T: Clone + Send + 'static,
        D: Fn(
                &Protocol,
                Checkout,
                Vec<GiftCard>,
                DateTime<Utc>,
                &mut dyn FnMut() -> Result<(CardId, Code), RedeemError>,
            ) -> Result<Decision<T>, RedeemError>
            + Send
            + Sync
            + 'static,
    {
        let settings = self;
        settings
            .keyed(port, key, request, wrap, unwrap, |port, now, pool| {
                let (checkout, settings, decide) = (checkout.clone(), &settings, &decide);
                async move {
                    let (stored, read) = port
                        .checkout_and_cards(&checkout, |c| match cards {
                            Cards::Applied => c.applied().to_vec(),
                            Cards::Needed => c.needed().collect(),
                        })
                        .await?;
                    settings
                        .decide_with_fresh(port, pool, |fresh| {
                            decide(settings, stored.clone(), read.clone(), now, fresh)
                        })
                        .await
                }
            })
            .await
    }
}

/// A decision that places an authorisation's holds ([`redeem::authorise`],
/// [`redeem::change_authorisation`]).
type HoldDecision = fn(
    Checkout,
    Vec<GiftCard>,
    Money,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    AllocationOrder,
) -> Result<Decision<Authorisation>, RedeemError>;

/// Which of a checkout's cards an operation reads.
#[derive(Debug, Clone, Copy)]
enum Cards {
    /// Every card applied to it (authorise).
    Applied,
    /// The cards its holds and captures are on (capture, void, refund).
    Needed,
}

pub(super) fn unwrap_issued(o: Outcome) -> Option<Issued> {
    match o {
        Outcome::Issued(x) => Some(x),
        _ => None,
    }
}

pub(super) fn unwrap_authorised(o: Outcome) -> Option<Authorisation> {
    match o {
        Outcome::Authorised(x) => Some(x),
        _ => None,
    }
}

pub(super) fn unwrap_captured(o: Outcome) -> Option<Captured> {
    match o {
        Outcome::Captured(x) => Some(x),
        _ => None,
    }
}

pub(super) fn unwrap_voided(o: Outcome) -> Option<Voided> {
    match o {
        Outcome::Voided(x) => Some(x),
        _ => None,
    }
}

pub(super) fn unwrap_amended(o: Outcome) -> Option<Amended> {
    match o {
        Outcome::Amended(x) => Some(x),
        _ => None,
    }
}

pub(super) fn unwrap_code_replaced(o: Outcome) -> Option<CodeReplaced> {
    match o {
        Outcome::CodeReplaced(x) => Some(x),
        _ => None,
    }
}

pub(super) fn unwrap_reversed(o: Outcome) -> Option<crate::redeem::Reversal> {
    match o {
        Outcome::Reversed(x) => Some(x),
        _ => None,
    }
}

pub(super) fn unwrap_refunded(o: Outcome) -> Option<RefundOutcome> {
    match o {
        Outcome::Refunded(x) => Some(x),
        _ => None,
    }
}
