//! Upkeep a host's scheduler runs: sweeps (expired holds released, expiries recorded),
//! pruning (old idempotency records, ended guard windows), and reading a card's whole ledger.

use super::operation::Port;
use super::{Need, Protocol, Redeemed};
use crate::card::{CardId, LedgerEntry};
use crate::redeem::{self, Changes, Pruned, RedeemError, Sweep};

/// How many ledger entries a history read fetches at a time.
const HISTORY_PAGE: usize = 1024;

impl Protocol {
    /// Sweeps up to `limit` cards that are due now (the store's `due_cards`): releases holds
    /// past their time limit and records expiries, each card in a versioned commit of its own.
    /// [`Sweep::more`] says the batch was full and more may be due.
    pub(super) async fn sweep(&self, port: &Port, limit: usize) -> Result<Sweep, RedeemError> {
        let now = port.now().await?;
        let due = self.reread(port, |port| port.due_cards(now, limit)).await?;
        let mut sweep = Sweep {
            cards: Vec::with_capacity(due.len()),
            notifications: Vec::new(),
            more: limit > 0 && due.len() >= limit,
        };
        for card in due {
            if let Some(swept) = self.sweep_card(port, card).await? {
                sweep.add(swept);
            }
        }
        Ok(sweep)
    }

    /// Deletes up to `limit` idempotency records past the [`Retention`](crate::redeem::Retention)
    /// and up to `limit` guard windows that have ended ([`Protocol::prune_before`]).
    pub(super) async fn prune(&self, port: &Port, limit: usize) -> Result<Pruned, RedeemError> {
        let before = self.prune_before(port.now().await?);
        let mut pruned = Pruned::default();
        if let Some(before) = before.records {
            pruned.records = port.prune(Need::PruneRecords { before, limit }).await?;
        }
        if let Some(before) = before.guards {
            pruned.guards = port.prune(Need::PruneGuards { before, limit }).await?;
        }
        Ok(pruned)
    }

    /// A card's whole ledger, oldest first, read a page at a time.
    pub(super) async fn history(
        &self,
        port: &Port,
        card: CardId,
    ) -> Result<Vec<LedgerEntry>, RedeemError> {
        let mut all = Vec::new();
        loop {
            let from_seq = all.len() as u64 + 1;
            let page = self
                .reread(port, |port| port.ledger(card, from_seq, HISTORY_PAGE))
                .await?;
            let done = page.len() < HISTORY_PAGE;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    /// Sweeps one card ([`redeem::sweep`]): releases its holds past their time limit and
    /// records its expiry once its date has passed, in one versioned commit retried on
    /// conflict like every operation. Naturally idempotent (a card with nothing due is left
    /// as it is), so it takes no key; an unknown card is swept as one with nothing due
    /// (`None`). A sweep runs it on each card the store lists as due.
    async fn sweep_card(
        &self,
        port: &Port,
        card: CardId,
    ) -> Result<Option<Redeemed<redeem::Swept>>, RedeemError> {
        let settings = self;
        settings
            .retry(port, |port, now| async move {
                let Some(stored) = port.card(card).await? else {
                    return Ok((None, Changes::default()));
                };
                let decision = redeem::sweep(stored.value, now)?;
                let (outcome, notifications, changes) =
                    decision.into_parts(|_| Some(stored.version), None);
                let swept = Redeemed {
                    outcome,
                    notifications,
                    replayed: false,
                };
                Ok((Some(swept), changes))
            })
            .await
    }
}
