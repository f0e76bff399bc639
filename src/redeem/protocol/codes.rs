//! The requests that look a typed code up (apply, remove, check a balance) and the guard
//! they go through: a slot reserved before every lookup, given back when the code is known.

use crate::redeem::{CheckoutId, ClientId};
use chrono::{DateTime, Utc};

use super::operation::Port;
use super::{AppliedCode, Protocol};
use crate::card::GiftCard;
use crate::code::Code;
use crate::money::Currency;
use crate::redeem::{
    self, BalanceCheck, Changes, GuardError, GuardPolicy, GuardWindow, RecordWrite, RedeemError,
    STORE_BUDGET_CLIENT, Versioned, store_budget_client,
};

impl Protocol {
    /// Looks a typed code up for `checkout` and applies it. The check character is verified
    /// before any store is asked; unknown codes count against `client` in the guard.
    pub(super) async fn apply_code(
        &self,
        port: &Port,
        client: ClientId,
        checkout: CheckoutId,
        currency: Currency,
        code: Code,
    ) -> Result<AppliedCode, RedeemError> {
        self.check_code(&code)?;
        let settings = self;
        let mut reserved = settings.reserve(port, &client, &code).await?;
        let found = settings
            .reread(port, |port| port.card_by_code(&code))
            .await?;
        let Some(found) = found else {
            return Err(RedeemError::UnknownCode(code.masked()));
        };
        settings
            .give_back_budget(port, &code, reserved.store)
            .await?;
        let card_id = found.value.id();
        // The first attempt uses the card just found and the window the reservation wrote;
        // a retry reads both again.
        let mut found = Some(found.value);
        let (taken, mut written) = (reserved.own.is_some(), reserved.own.take());
        settings
            .retry(port, |port, now| {
                let (found, written) = (found.take(), written.take());
                let (checkout, client, code) = (checkout.clone(), client.clone(), code.clone());
                let settings = &settings;
                async move {
                    let guard = settings
                        .give_back_write(port, &client, &code, taken, written)
                        .await?;
                    let card = match found {
                        Some(card) => card,
                        // A retry reads the card again by the code typed: a code replaced
                        // meanwhile finds nothing, and its card's new code is never shown.
                        None => match port.card_by_code(&code).await? {
                            Some(card) if card.value.id() == card_id => card.value,
                            _ => {
                                let unknown = RedeemError::UnknownCode(code.masked());
                                return Ok(with_slot_back(guard, Err(unknown)));
                            }
                        },
                    };
                    let stored = port.checkout(&checkout).await?;
                    let expected_version = stored.as_ref().map(|s| s.version);
                    let decided = redeem::apply(
                        stored.map(|s| s.value),
                        checkout.clone(),
                        currency,
                        None,
                        &card,
                        now,
                    )
                    .map(|updated| {
                        let applied = AppliedCode {
                            card: card.id(),
                            code: card.shared_code_hint().clone(),
                            balance: card.available_at(now),
                            expires_at: card.expires_at(),
                        };
                        let changes = Changes {
                            checkout: Some(RecordWrite {
                                value: updated,
                                expected_version,
                            }),
                            ..Changes::default()
                        };
                        (applied, changes)
                    });
                    Ok(with_slot_back(guard, decided))
                }
            })
            .await?
    }

    /// What a card can pay, looked up by its code for a shopper's "check your balance" page:
    /// through the check character and the guard like [`Protocol::apply_code`], so the page is
    /// no oracle for guessing codes (unknown codes count against `client`).
    pub(super) async fn check_balance(
        &self,
        port: &Port,
        client: ClientId,
        code: Code,
    ) -> Result<BalanceCheck, RedeemError> {
        self.check_code(&code)?;
        let settings = self;
        let card = settings.find_by_code(port, &client, &code).await?;
        let now = port.now().await?;
        Ok(BalanceCheck::of(&card, now))
    }

    /// The card with a typed code, as the guard allows `client` to look it up: the slot is
    /// reserved before the lookup (refused while the client's window is full) and given back
    /// when the code is known, so an unknown code stays counted against the client.
    async fn find_by_code(
        &self,
        port: &Port,
        client: &ClientId,
        code: &Code,
    ) -> Result<GiftCard, RedeemError> {
        let reserved = self.reserve(port, client, code).await?;
        match self.reread(port, |port| port.card_by_code(code)).await? {
            Some(found) => {
                self.give_back(port, client, code, reserved).await?;
                Ok(found.value)
            }
            None => Err(RedeemError::UnknownCode(code.masked())),
        }
    }

    /// Takes a code off the checkout. The code goes through the check character and the guard
    /// like [`Protocol::apply_code`], and a code that is unknown and one that is not on this
    /// checkout get the same answer ([`RedeemError::UnknownCode`]) and both stay counted
    /// against `client`, so this is no oracle for guessing codes. An unknown checkout is
    /// refused before the code is looked up.
    pub(super) async fn remove_code(
        &self,
        port: &Port,
        client: ClientId,
        checkout: CheckoutId,
        code: Code,
    ) -> Result<(), RedeemError> {
        self.check_code(&code)?;
        let settings = self;
        let unknown = || RedeemError::UnknownCode(code.masked());
        let known = settings
            .reread(port, |port| async { port.checkout(&checkout).await })
            .await?;
        if known.is_none() {
            return Err(RedeemError::UnknownCheckout(checkout));
        }
        let mut reserved = settings.reserve(port, &client, &code).await?;
        let found = settings
            .reread(port, |port| async {
                let Some(card) = port.card_by_code(&code).await? else {
                    return Ok(None);
                };
                let applied = port
                    .checkout(&checkout)
                    .await?
                    .is_some_and(|c| c.value.applied().contains(&card.value.id()));
                Ok(applied.then_some(card.value))
            })
            .await?;
        let Some(card) = found else {
            return Err(unknown());
        };
        settings
            .give_back_budget(port, &code, reserved.store)
            .await?;
        // The client's slot goes back in the checkout's commit, as for apply_code.
        let (taken, mut written) = (reserved.own.is_some(), reserved.own.take());
        settings
            .retry(port, |port, _now| {
                let written = written.take();
                let (checkout, card, client, code) =
                    (checkout.clone(), card.clone(), client.clone(), code.clone());
                let settings = &settings;
                async move {
                    let guard = settings
                        .give_back_write(port, &client, &code, taken, written)
                        .await?;
                    let decided = match port.checkout(&checkout).await? {
                        Some(stored) => redeem::remove(stored.value, &card).map(|updated| {
                            let changes = Changes {
                                checkout: Some(RecordWrite {
                                    value: updated,
                                    expected_version: Some(stored.version),
                                }),
                                ..Changes::default()
                            };
                            ((), changes)
                        }),
                        None => Err(RedeemError::UnknownCheckout(checkout.clone())),
                    }
                    .map_err(|e| match e {
                        RedeemError::NotApplied { .. } => RedeemError::UnknownCode(code.masked()),
                        other => other,
                    });
                    Ok(with_slot_back(guard, decided))
                }
            })
            .await?
    }

    /// A typed code, refused before any store is asked when its check character is wrong
    /// (unless it fits the imported codes' rules).
    fn check_code(&self, code: &Code) -> Result<(), RedeemError> {
        if let Err(e) = self.codes.check(code) {
            let imported = self
                .imported
                .as_ref()
                .is_some_and(|rules| rules.import(code.expose_secret()).is_ok());
            if !imported {
                return Err(RedeemError::InvalidCode(e));
            }
        }
        Ok(())
    }

    /// Reserves the guard slots for looking `code` up, before the lookup: the client's, then
    /// (with a [store budget](GuardPolicy::with_store_budget)) the budget's under
    /// [`STORE_BUDGET_CLIENT`]. Each window is committed with one more code under its version
    /// (a lost race reads again), so parallel lookups cannot overrun either limit. A lookup
    /// the budget refuses keeps its client's slot, so that every unknown answer stays counted
    /// in both windows. The reserved id is refused as a host's client.
    async fn reserve(
        &self,
        port: &Port,
        client: &ClientId,
        code: &Code,
    ) -> Result<Reserved, RedeemError> {
        if client.as_str() == STORE_BUDGET_CLIENT {
            return Err(GuardError {
                client: client.clone(),
                retry_after: DateTime::<Utc>::MAX_UTC,
            }
            .into());
        }
        let own = self.reserve_in(port, client, &self.guard, code).await?;
        let store = match self.guard.store_budget() {
            None => false,
            Some(budget) => self
                .reserve_in(port, &store_budget_client(), &budget, code)
                .await
                .map(|written| written.is_some())
                .map_err(|e| match e {
                    // Name the client that asked, not the reserved id.
                    RedeemError::TooManyAttempts(refused) => GuardError {
                        client: client.clone(),
                        retry_after: refused.retry_after,
                    }
                    .into(),
                    other => other,
                })?,
        };
        Ok(Reserved { own, store })
    }

    /// Reserves a slot for `code` in the window of `client` under `policy`. Returns the window
    /// as committed, with its new version, when a slot was taken (`None` for a code the window
    /// counts already).
    async fn reserve_in(
        &self,
        port: &Port,
        client: &ClientId,
        policy: &GuardPolicy,
        code: &Code,
    ) -> Result<Option<Versioned<GuardWindow>>, RedeemError> {
        self.retry(port, |port, now| async move {
            let stored = port.guard(client).await?;
            let expected_version = stored.as_ref().map(|s| s.version);
            let mut window =
                stored.map_or_else(|| GuardWindow::new(client.clone(), now), |s| s.value);
            if !window.reserve(policy, code, now)? {
                return Ok((None, Changes::default()));
            }
            let written = Versioned {
                value: window.clone(),
                version: expected_version.map_or(1, |v| v + 1),
            };
            let changes = Changes {
                guard: Some(RecordWrite {
                    value: window,
                    expected_version,
                }),
                ..Changes::default()
            };
            Ok((Some(written), changes))
        })
        .await
    }

    /// The client's slot for a known code given back, as a write for the request's own commit
    /// (so that a known code costs one commit less): on `written`, the window
    /// [`Protocol::reserve`] committed, on the first attempt; on a fresh read after a lost
    /// commit. `None` when no slot was `taken` or nothing changed.
    async fn give_back_write(
        &self,
        port: &Port,
        client: &ClientId,
        code: &Code,
        taken: bool,
        written: Option<Versioned<GuardWindow>>,
    ) -> Result<Option<RecordWrite<GuardWindow>>, RedeemError> {
        if !taken {
            return Ok(None);
        }
        let stored = match written {
            Some(window) => Some(window),
            None => port.guard(client).await?,
        };
        Ok(stored.and_then(|mut stored| {
            stored.value.give_back(code).then_some(RecordWrite {
                value: stored.value,
                expected_version: Some(stored.version),
            })
        }))
    }

    /// Gives back the store budget's slot for a known code, when [`Protocol::reserve`] took
    /// one.
    async fn give_back_budget(
        &self,
        port: &Port,
        code: &Code,
        taken: bool,
    ) -> Result<(), RedeemError> {
        if taken {
            self.give_back_in(port, &store_budget_client(), code)
                .await?;
        }
        Ok(())
    }

    /// Gives back the slots [`Protocol::reserve`] took for a code that turned out to be known.
    async fn give_back(
        &self,
        port: &Port,
        client: &ClientId,
        code: &Code,
        reserved: Reserved,
    ) -> Result<(), RedeemError> {
        if reserved.own.is_some() {
            self.give_back_in(port, client, code).await?;
        }
        self.give_back_budget(port, code, reserved.store).await
    }

    /// Gives back the slot for `code` in the window of `client`.
    async fn give_back_in(
        &self,
        port: &Port,
        client: &ClientId,
        code: &Code,
    ) -> Result<(), RedeemError> {
        self.retry(port, |port, _now| async move {
            let Some(stored) = port.guard(client).await? else {
                return Ok(((), Changes::default()));
            };
            let mut window = stored.value;
            let changed = window.give_back(code);
            let changes = Changes {
                guard: changed.then_some(RecordWrite {
                    value: window,
                    expected_version: Some(stored.version),
                }),
                ..Changes::default()
            };
            Ok(((), changes))
        })
        .await
    }
}

/// What a request on a known code commits with the client's slot given back (`guard`, from
/// [`Protocol::give_back_write`]): the decision's changes, or, when the decision refused, the
/// give-back alone, so that a refusal leaves the slot free too.
fn with_slot_back<T>(
    guard: Option<RecordWrite<GuardWindow>>,
    decided: Result<(T, Changes), RedeemError>,
) -> (Result<T, RedeemError>, Changes) {
    match decided {
        Ok((value, changes)) => (Ok(value), Changes { guard, ..changes }),
        Err(refused) => (
            Err(refused),
            Changes {
                guard,
                ..Changes::default()
            },
        ),
    }
}

/// Which guard slots [`Protocol::reserve`] took: the client's (the window as committed) and
/// the store budget's.
#[derive(Debug)]
struct Reserved {
    own: Option<Versioned<GuardWindow>>,
    store: bool,
}
