//! The back office's requests: a command on one card (disable, enable, unblock, adjust,
//! reload, a new expiry), a replaced code, and a reversed purchase.

use super::money::{unwrap_amended, unwrap_code_replaced, unwrap_reversed};
use super::operation::{Port, lock};
use super::{Protocol, Redeemed};
use crate::card::{Attribution, CardId, Reference, ReversalReason};
use crate::redeem::{
    self, Amended, CardCommand, IdempotencyKey, Outcome, RecordedRequest, RedeemError, Reversal,
    ReversalScope,
};

impl Protocol {
    /// Carries out a back-office `command` on a card under its key ([`redeem::amend`]): one
    /// ledger entry attributed to `by`. A replay returns the first result; the key used again
    /// for another card, command or attribution is refused.
    pub(super) async fn amend(
        &self,
        port: &Port,
        key: IdempotencyKey,
        card: CardId,
        command: CardCommand,
        by: Attribution,
    ) -> Result<Redeemed<Amended>, RedeemError> {
        let request = RecordedRequest::Amend {
            card,
            command,
            by: by.clone(),
        };
        let settings = self;
        settings
            .keyed(
                port,
                key,
                request,
                Outcome::Amended,
                unwrap_amended,
                |port, now, _pool| {
                    let by = by.clone();
                    async move {
                        let stored = port
                            .card(card)
                            .await?
                            .ok_or(RedeemError::UnknownCard(card))?;
                        lock(&port.versions).note(card, stored.version);
                        redeem::amend(stored.value, command, &by, now, &settings.expiry)
                    }
                },
            )
            .await
    }

    /// Gives a card a new code under its key ([`redeem::replace_code`]), for an owner who lost
    /// the e-mail: the same card (id, balance, holds, history) under a code drawn like an
    /// issued card's ([`Need::Fresh`], checked to be free; a code taken meanwhile at commit is
    /// drawn again). From the commit on, the old code finds nothing and the new one finds the
    /// card. The new code is handed over once, in the first answer's
    /// [`Notification::CodeReplaced`].
    ///
    /// A replay under the same key answers with the same [`CodeReplaced`](redeem::CodeReplaced)
    /// (the new code's masked hint) but no notification: codes are never stored, and the
    /// idempotency record is stored, so it cannot carry the code. A host that lost the first
    /// answer's notification replaces the code again under a new key: the code in between,
    /// which nobody has seen, stops working.
    pub(super) async fn replace_code(
        &self,
        port: &Port,
        key: IdempotencyKey,
        card: CardId,
        by: Attribution,
    ) -> Result<Redeemed<redeem::CodeReplaced>, RedeemError> {
        let request = RecordedRequest::ReplaceCode {
            card,
            by: by.clone(),
        };
        let settings = self;
        settings
            .keyed(
                port,
                key,
                request,
                Outcome::CodeReplaced,
                unwrap_code_replaced,
                |port, now, pool| {
                    let (by, settings) = (by.clone(), &settings);
                    async move {
                        let stored = port
                            .card(card)
                            .await?
                            .ok_or(RedeemError::UnknownCard(card))?;
                        lock(&port.versions).note(card, stored.version);
                        let (_, code) = settings.fresh_pair(port, pool).await?;
                        redeem::replace_code(stored.value, code, &by, now)
                    }
                },
            )
            .await
    }

    /// Reverses the purchase of `order` under its key ([`redeem::reverse_purchase`]): reads
    /// the cards the order bought and blocks those in `scope`, each commit of the whole
    /// reversal checked against the versions read. A replay returns the first result.
    pub(super) async fn reverse_purchase(
        &self,
        port: &Port,
        key: IdempotencyKey,
        order: Reference,
        scope: ReversalScope,
        reason: ReversalReason,
        by: Attribution,
    ) -> Result<Redeemed<Reversal>, RedeemError> {
        let request = RecordedRequest::ReversePurchase {
            order: order.clone(),
            scope: scope.clone(),
            reason,
            by: by.clone(),
        };
        self.keyed(
            port,
            key,
            request,
            Outcome::Reversed,
            unwrap_reversed,
            |port, now, _pool| {
                let (order, scope, by) = (order.clone(), scope.clone(), by.clone());
                async move {
                    let ids = port.order_cards(order.clone()).await?;
                    let mut cards = Vec::with_capacity(ids.len());
                    for id in ids {
                        let stored = port.card(id).await?.ok_or(RedeemError::UnknownCard(id))?;
                        lock(&port.versions).note(id, stored.version);
                        cards.push(stored.value);
                    }
                    redeem::reverse_purchase(&order, cards, &scope, reason, &by, now)
                }
            },
        )
        .await
    }
}
