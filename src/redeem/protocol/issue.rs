//! Issuing cards: paid certificates and bulk batches with fresh codes, the cards of a paid
//! order, and cards under codes imported from another platform.

use super::money::unwrap_issued;
use super::operation::Port;
use super::{Protocol, Redeemed};
use crate::card::{CardSpec, EntryKind, Reference};
use crate::code::{ImportedCode, MIN_CODE_BITS};
use crate::redeem::{
    self, IdempotencyKey, Issued, Outcome, RecordedRequest, RedeemError, StoreError,
    spec_fingerprint,
};

impl Protocol {
    /// Issues one card per spec (paid certificates, or a bulk batch), with a notification per
    /// card carrying its code for the host to e-mail. Specs without an expiry get one from the
    /// [`ExpiryPolicy`].
    pub(super) async fn issue(
        &self,
        port: &Port,
        key: IdempotencyKey,
        specs: Vec<CardSpec>,
    ) -> Result<Redeemed<Issued>, RedeemError> {
        self.issue_once(port, key, specs, None).await
    }

    /// Issues `specs` under `key`; for an `order`, only while no card it bought exists.
    async fn issue_once(
        &self,
        port: &Port,
        key: IdempotencyKey,
        specs: Vec<CardSpec>,
        order: Option<Reference>,
    ) -> Result<Redeemed<Issued>, RedeemError> {
        let request = RecordedRequest::Issue {
            fingerprint: spec_fingerprint(&specs, None),
        };
        let settings = self;
        settings
            .keyed(
                port,
                key,
                request,
                Outcome::Issued,
                unwrap_issued,
                |port, now, pool| {
                    let (specs, order) = (specs.clone(), order.clone());
                    let settings = settings.clone();
                    async move {
                        // The record stops a second issue while it is kept; the cards
                        // themselves once it is pruned.
                        if let Some(order) = order {
                            let cards = port.order_cards(order.clone()).await?;
                            if !cards.is_empty() {
                                return Err(RedeemError::OrderAlreadyIssued { order, cards });
                            }
                        }
                        let mut specs = specs;
                        for spec in &mut specs {
                            if spec.expires_at.is_none() {
                                spec.expires_at = settings.expiry.expires_at(now)?;
                            }
                        }
                        settings
                            .decide_with_fresh(port, pool, |fresh| {
                                redeem::issue(specs.clone(), now, fresh)
                            })
                            .await
                    }
                },
            )
            .await
    }

    /// Issues a card under a code brought from another platform. A replay of the same import
    /// returns its first result; a card already holding the code is
    /// [`StoreError::DuplicateCode`].
    pub(super) async fn import(
        &self,
        port: &Port,
        key: IdempotencyKey,
        code: ImportedCode,
        spec: CardSpec,
    ) -> Result<Redeemed<Issued>, RedeemError> {
        let bits = code.entropy_bits();
        if bits < f64::from(MIN_CODE_BITS) && self.guard.store_budget().is_none() {
            return Err(RedeemError::WeakImportedCode {
                code: code.code().masked(),
                // At most 64 symbols of at most 6 bits: the floor fits.
                bits: bits.floor() as u32,
                min: MIN_CODE_BITS,
            });
        }
        let code = code.into_code();
        let request = RecordedRequest::Import {
            fingerprint: spec_fingerprint(std::slice::from_ref(&spec), Some(&code.masked())),
        };
        let settings = self;
        let redeemed = settings
            .keyed(
                port,
                key.clone(),
                request.clone(),
                Outcome::Issued,
                unwrap_issued,
                |port, now, _pool| {
                    let (code, spec) = (code.clone(), spec.clone());
                    async move {
                        if port.card_by_code(&code).await?.is_some() {
                            return Err(StoreError::duplicate_code(&code).into());
                        }
                        let mut spec = spec;
                        if spec.expires_at.is_none() {
                            spec.expires_at = settings.expiry.expires_at(now)?;
                        }
                        let id = port.new_card_id().await?;
                        let mut code = Some(code);
                        redeem::issue(vec![spec], now, || {
                            code.take()
                                .map(|code| (id, code))
                                .ok_or(RedeemError::Contention { attempts: 0 })
                        })
                    }
                },
            )
            .await?;
        // The request's fingerprint knows the code only by its mask, which may show
        // nothing: a replay is the first import only if the code is the card it made, or
        // finds no card since the card it made was given a new code.
        if redeemed.replayed {
            let made = redeemed.outcome.cards.first().map(|c| c.card);
            let found = settings
                .reread(port, |port| port.card_by_code(&code))
                .await?
                .map(|c| c.value.id());
            let recoded = match (made, found) {
                (Some(card), None) => settings
                    .history(port, card)
                    .await?
                    .iter()
                    .any(|e| e.kind() == EntryKind::CodeReplaced),
                _ => false,
            };
            if made.is_none() || (found != made && !recoded) {
                return Err(RedeemError::IdempotencyConflict {
                    key,
                    first: Box::new(request),
                });
            }
        }
        Ok(redeemed)
    }

    /// Issues the cards a paid order bought (`specs`, one per certificate unit) under a key
    /// made from the order's reference: however often it is asked for the same order, each
    /// card is issued once; after its record is pruned, an order that has cards (found by the
    /// order each card's spec names) is refused with [`RedeemError::OrderAlreadyIssued`]. An
    /// order that bought nothing (yet) issues nothing and commits nothing.
    pub(super) async fn issue_for_order(
        &self,
        port: &Port,
        order: Reference,
        specs: Vec<CardSpec>,
    ) -> Result<Redeemed<Issued>, RedeemError> {
        if specs.is_empty() {
            return Ok(Redeemed {
                outcome: Issued { cards: Vec::new() },
                notifications: Vec::new(),
                replayed: false,
            });
        }
        let key = order_key(&order)?;
        self.issue_once(port, key, specs, Some(order)).await
    }
}

/// The idempotency key an order's cards are issued under.
fn order_key(order: &Reference) -> Result<IdempotencyKey, RedeemError> {
    IdempotencyKey::new(&format!("order-issue:{order}"))
        .map_err(|e| StoreError::corrupt(format!("an order's reference makes no key: {e}")).into())
}
