//! What a checkout page shows of the gift certificates on it (BigCommerce's checkout
//! `giftCertificates` and `outstandingBalance`): a [`CheckoutView`] with one
//! [`GiftCertificateView`] per applied card.
//!
//! The view joins two things the library already computed: the checkout's cards as they stand
//! ([`CheckoutCards`], with what the payment holds, captured and refunded on each) and the
//! order's [`Totals`] over those cards ([`Totals::with_checkout`], or [`Totals::for_grand_total`]
//! when the order is known only by its grand total). While the checkout is open each card shows
//! what the totals allocate to it, in the checkout's allocation order; once authorised, what
//! this checkout's live holds keep on it (a hold past its time limit shows as nothing); once
//! captured, what it paid less what was refunded. A host serialises the view as it is.
//!
//! ```
//! use giftcert::shop::CheckoutView;
//! use giftcert::redeem::PaymentStage;
//! use giftcert::{CheckoutId, ClientId, CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Notification, Redeemer, Reference, Totals};
//!
//! let usd = |s: &str| Money::parse(s, Currency::USD);
//! let redeemer = Redeemer::new(MemoryStore::new());
//! let issued = redeemer.issue(&IdempotencyKey::new("i-1")?, vec![CardSpec::new(usd("100")?)])?;
//! let Some(Notification::CardIssued { code, .. }) = issued.notifications.first() else { unreachable!() };
//! let checkout = CheckoutId::new("c-1")?;
//! redeemer.apply_code(&ClientId::new("client-1")?, &checkout, Currency::USD, code.expose_secret())?;
//! redeemer.authorise(&IdempotencyKey::new("a-1")?, &checkout, usd("60")?)?;
//!
//! let cards = redeemer.checkout_cards(&checkout)?;
//! let view = CheckoutView::new(&cards, &Totals::for_grand_total(usd("60")?, &cards)?)?;
//! assert_eq!(view.stage, PaymentStage::Authorised);
//! let card = &view.gift_certificates[0];
//! assert_eq!((card.balance, card.held, card.used, card.remaining), (usd("100")?, usd("60")?, usd("60")?, usd("40")?));
//! assert_eq!(view.outstanding_balance, usd("0")?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::card::{CardId, CodeHint};
use crate::money::{Money, MoneyError};
use crate::redeem::{CheckoutCards, PaymentStage};
use crate::shop::Totals;

/// One applied gift certificate on a checkout, in BigCommerce's terms (`balance`, `code`,
/// `purchaseDate`, `remaining`, `used`), with what the checkout's payment holds, captured and
/// refunded on it.
///
/// The code is shown masked: the card keeps no more of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct GiftCertificateView {
    /// The card.
    pub card: CardId,
    /// The card's code, masked.
    pub code: CodeHint,
    /// When the card was bought.
    pub purchase_date: NaiveDate,
    /// What the card could give to this checkout: `used + remaining`.
    pub balance: Money,
    /// What this checkout takes from it: its share of the totals while open, what is held once
    /// authorised, what was captured less what was refunded once captured.
    pub used: Money,
    /// What the card keeps after this checkout.
    pub remaining: Money,
    /// What this checkout's live holds keep on it.
    pub held: Money,
    /// What this checkout spent from it.
    pub captured: Money,
    /// What was refunded to it of what this checkout spent.
    pub refunded: Money,
}

/// The gift certificates of a checkout and what is left to pay: what a checkout page shows.
///
/// Built by [`CheckoutView::new`] from the checkout's cards and the order's totals. While the
/// checkout is open each card shows what the totals allocate to it, in the checkout's
/// allocation order; once authorised, what this checkout's live holds keep on it (a hold past
/// its time limit shows as nothing); once captured, what it paid less what was refunded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CheckoutView {
    /// Where the gift certificate payment stands.
    pub stage: PaymentStage,
    /// What the order costs before gift certificates (`grandTotal`).
    pub grand_total: Money,
    /// The applied gift certificates, in the order applied.
    pub gift_certificates: Vec<GiftCertificateView>,
    /// The grand total less what the gift certificates pay, never below zero
    /// (`outstandingBalance`).
    pub outstanding_balance: Money,
}

impl CheckoutView {
    /// The view of `checkout`'s cards under `totals`, which must have been computed over the
    /// same cards ([`Totals::with_checkout`] or [`Totals::for_grand_total`]): a card the totals
    /// do not name by its id pays nothing while the checkout is open.
    ///
    /// # Errors
    ///
    /// [`MoneyError::CurrencyMismatch`] when the checkout is in another currency than the
    /// totals; [`MoneyError::Overflow`] when a sum overflows.
    pub fn new(checkout: &CheckoutCards, totals: &Totals) -> Result<CheckoutView, MoneyError> {
        let currency = totals.currency();
        if let Some(found) = checkout.currency {
            if found != currency {
                return Err(MoneyError::CurrencyMismatch {
                    expected: currency,
                    found,
                });
            }
        }
        let zero = Money::zero(currency);
        let mut gift_certificates = Vec::with_capacity(checkout.cards.len());
        for (applied, payment) in checkout.cards.iter().zip(&checkout.payments) {
            let (balance, used, remaining) = match checkout.stage {
                PaymentStage::Authorised => (
                    payment.available.checked_add(payment.held)?,
                    payment.held,
                    payment.available,
                ),
                PaymentStage::Captured => {
                    let used = payment.captured.checked_sub(payment.refunded)?;
                    (
                        payment.available.checked_add(used)?,
                        used,
                        payment.available,
                    )
                }
                PaymentStage::Open | PaymentStage::Voided => {
                    match totals
                        .gift_certificates()
                        .iter()
                        .find(|c| c.card() == Some(applied.card))
                    {
                        Some(share) => (share.balance(), share.used(), share.remaining()),
                        None => (applied.balance, zero, applied.balance),
                    }
                }
            };
            gift_certificates.push(GiftCertificateView {
                card: applied.card,
                code: applied.code.clone(),
                purchase_date: payment.issued_at.date_naive(),
                balance,
                used,
                remaining,
                held: payment.held,
                captured: payment.captured,
                refunded: payment.refunded,
            });
        }
        let outstanding_balance = match checkout.stage {
            PaymentStage::Open | PaymentStage::Voided => totals.outstanding_balance(),
            PaymentStage::Authorised | PaymentStage::Captured => {
                let paid = Money::sum(currency, gift_certificates.iter().map(|c| c.used))?;
                let left = totals.grand_total().checked_sub(paid)?;
                if left.is_negative() { zero } else { left }
            }
        };
        Ok(CheckoutView {
            stage: checkout.stage,
            grand_total: totals.grand_total(),
            gift_certificates,
            outstanding_balance,
        })
    }
}
