//! The planned requests and the planner: what the simulated shoppers and staff ask, as the
//! seed picks it.

use rand::RngExt;

use crate::money::{Currency, Money};
use crate::redeem::CardCommand;
use crate::store::Store;

use super::world::World;

/// A code as the simulated shoppers know it: one issued (by its index in issue order) or a
/// guess no card has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRef {
    /// The `n`th code handed out by an issue.
    Issued(usize),
    /// The `n`th guess (well formed, with a good check character, unknown).
    Guess(usize),
}

/// One request a simulated client sends (its key, when it has one, is `key-<n>`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// Issue cards of these values.
    Issue {
        /// The idempotency key's number.
        key: u32,
        /// The cards' values.
        values: Vec<Money>,
        /// Days until they expire, if they do.
        expires_in_days: Option<i64>,
    },
    /// Apply a code to a checkout.
    Apply {
        /// The client's number.
        client: u32,
        /// The checkout's number.
        checkout: u32,
        /// The code typed.
        code: CodeRef,
    },
    /// Check a code's balance.
    CheckBalance {
        /// The client's number.
        client: u32,
        /// The code typed.
        code: CodeRef,
    },
    /// Take a code off a checkout.
    Remove {
        /// The client's number.
        client: u32,
        /// The checkout's number.
        checkout: u32,
        /// The code.
        code: CodeRef,
    },
    /// Authorise a payable amount on a checkout.
    Authorise {
        /// The idempotency key's number.
        key: u32,
        /// The checkout's number.
        checkout: u32,
        /// The amount.
        payable: Money,
    },
    /// Capture a checkout's holds.
    Capture {
        /// The idempotency key's number.
        key: u32,
        /// The checkout's number.
        checkout: u32,
    },
    /// Release a checkout's holds.
    Void {
        /// The idempotency key's number.
        key: u32,
        /// The checkout's number.
        checkout: u32,
    },
    /// Refund part of what a checkout captured.
    Refund {
        /// The idempotency key's number.
        key: u32,
        /// The checkout's number.
        checkout: u32,
        /// The amount.
        amount: Money,
    },
    /// Import a card with a code from another platform (`SIMIMPORT<n>`: short, so that its
    /// mask shows nothing of it).
    Import {
        /// The idempotency key's number.
        key: u32,
        /// The code's number.
        code: u32,
        /// The card's value.
        value: Money,
    },
    /// A back-office command on an issued card.
    Amend {
        /// The idempotency key's number.
        key: u32,
        /// The card, by its code's index in issue order.
        card: usize,
        /// The command.
        command: CardCommand,
    },
}

impl Request {
    pub(super) fn key(&self) -> Option<u32> {
        match self {
            Request::Issue { key, .. }
            | Request::Import { key, .. }
            | Request::Authorise { key, .. }
            | Request::Capture { key, .. }
            | Request::Void { key, .. }
            | Request::Refund { key, .. }
            | Request::Amend { key, .. } => Some(*key),
            Request::Apply { .. } | Request::CheckBalance { .. } | Request::Remove { .. } => None,
        }
    }
}

/// Each checkout pays in one currency: the even ones in euros, the odd ones in kronor.
pub(super) fn checkout_currency(checkout: u32) -> Currency {
    if checkout % 2 == 0 {
        Currency::EUR
    } else {
        Currency::SEK
    }
}

impl<S: Store, F: Fn() -> S> World<'_, S, F> {
    pub(super) fn currency(&mut self) -> Currency {
        if self.rng.random_bool(0.5) {
            Currency::EUR
        } else {
            Currency::SEK
        }
    }

    pub(super) fn money(&mut self, currency: Currency, max: i64) -> Money {
        Money::from_minor(self.rng.random_range(1..=max) * 100, currency)
            .unwrap_or(Money::zero(currency))
    }

    pub(super) fn key(&mut self) -> u32 {
        self.next_key += 1;
        self.next_key
    }

    fn code_ref(&mut self) -> CodeRef {
        if self.issued.is_empty() || self.rng.random_range(0..5) == 0 {
            CodeRef::Guess(self.rng.random_range(0..8))
        } else {
            CodeRef::Issued(self.rng.random_range(0..self.issued.len()))
        }
    }

    /// The next request the seed picks.
    pub(super) fn plan(&mut self) -> Request {
        let checkouts = self.sim.config.checkouts.max(1) as u32;
        let checkout = self.rng.random_range(0..checkouts);
        let currency = checkout_currency(checkout);
        let client = self.rng.random_range(0..2);
        match self.rng.random_range(0..24) {
            0 => {
                let currency = self.currency();
                let values = vec![self.money(currency, 50)];
                let expires_in_days = self.rng.random_bool(0.3).then_some(2);
                Request::Issue {
                    key: self.key(),
                    values,
                    expires_in_days,
                }
            }
            1..=5 => Request::Apply {
                client,
                checkout,
                code: self.code_ref(),
            },
            6 => Request::CheckBalance {
                client,
                code: self.code_ref(),
            },
            7 => Request::Remove {
                client,
                checkout,
                code: self.code_ref(),
            },
            8..=12 => Request::Authorise {
                key: self.key(),
                checkout,
                payable: self.money(currency, 80),
            },
            13..=16 => Request::Capture {
                key: self.key(),
                checkout,
            },
            17 => Request::Void {
                key: self.key(),
                checkout,
            },
            18 | 19 => Request::Refund {
                key: self.key(),
                checkout,
                amount: self.money(currency, 30),
            },
            22 => {
                let currency = self.currency();
                Request::Import {
                    key: self.key(),
                    code: self.rng.random_range(0..4),
                    value: self.money(currency, 50),
                }
            }
            _ if self.issued.is_empty() => Request::Void {
                key: self.key(),
                checkout,
            },
            _ => {
                let card = self.rng.random_range(0..self.issued.len());
                let currency = self.card_currency(card);
                let command = match self.rng.random_range(0..5) {
                    0 => CardCommand::Disable,
                    1 => CardCommand::Enable,
                    2 => CardCommand::Adjust {
                        change: self.money(currency, 20),
                    },
                    3 => CardCommand::Reload {
                        amount: self.money(currency, 20),
                        bounds: None,
                    },
                    _ => CardCommand::Adjust {
                        change: self.money(currency, 10).negated(),
                    },
                };
                Request::Amend {
                    key: self.key(),
                    card,
                    command,
                }
            }
        }
    }

    fn card_currency(&self, index: usize) -> Currency {
        self.issued
            .get(index)
            .and_then(|(_, id)| self.store.card(*id).ok().flatten())
            .map_or(Currency::EUR, |c| c.value.currency())
    }
}
