//! The planned requests and the planner: what the simulated shoppers and staff ask, as the
//! seed picks it.

use chrono::Duration;
use rand::RngExt;

use crate::card::{Attribution, CardId, CardSpec, Reason, Reference};
use crate::money::{Currency, Money};
use crate::redeem::{CardCommand, RefundTo, Request};
use crate::store::Store;

use super::world::{World, import_rules, key_of, reference};

/// A code as the simulated shoppers know it: one issued (by its index in issue order) or a
/// guess no card has.
/// Which code a planned lookup types: an issued card's (by its place among the cards issued),
/// or an unissued guess (by its place among the guesses drawn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CodeRef {
    Issued(usize),
    Guess(usize),
}

/// A planned request: the protocol's [`Request`], with who asks it as the checks count them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Planned {
    /// The request.
    pub request: Request,
    /// The simulated client of a request that looks a code up (the guard counts per client).
    pub client: Option<u32>,
    /// The number of the request's idempotency key, for a request that carries one.
    pub key: Option<u32>,
}

impl Planned {
    fn keyed(key: u32, request: Request) -> Planned {
        Planned {
            request,
            client: None,
            key: Some(key),
        }
    }

    fn looked_up(client: u32, request: Request) -> Planned {
        Planned {
            request,
            client: Some(client),
            key: None,
        }
    }
}

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
    /// The issue of one card of each of `values`, expiring `expires_in_days` after the run's
    /// start.
    pub(super) fn issue(&mut self, values: Vec<Money>, expires_in_days: Option<i64>) -> Planned {
        let expires = expires_in_days.map(|d| self.start + Duration::days(d));
        let specs = values
            .into_iter()
            .map(|v| {
                let mut spec = CardSpec::new(v);
                spec.expires_at = expires;
                spec
            })
            .collect();
        let key = self.key();
        Planned::keyed(
            key,
            Request::Issue {
                key: key_of(key),
                specs,
            },
        )
    }

    pub(super) fn plan(&mut self) -> Planned {
        let checkouts = self.sim.config.checkouts.max(1) as u32;
        let number = self.rng.random_range(0..checkouts);
        let currency = checkout_currency(number);
        let checkout = reference(format!("checkout-{number}"));
        let client_number = self.rng.random_range(0..2);
        let client = reference(format!("client-{client_number}"));
        match self.rng.random_range(0..24) {
            0 => {
                let currency = self.currency();
                let values = vec![self.money(currency, 50)];
                let expires_in_days = self.rng.random_bool(0.3).then_some(2);
                self.issue(values, expires_in_days)
            }
            1..=5 => {
                let code = self.code_ref();
                let code = self.code_of(code);
                Planned::looked_up(
                    client_number,
                    Request::ApplyCode {
                        client,
                        checkout,
                        currency,
                        code,
                    },
                )
            }
            6 => {
                let code = self.code_ref();
                let code = self.code_of(code);
                Planned::looked_up(client_number, Request::CheckBalance { client, code })
            }
            7 => {
                let code = self.code_ref();
                let code = self.code_of(code);
                Planned::looked_up(
                    client_number,
                    Request::RemoveCode {
                        client,
                        checkout,
                        code,
                    },
                )
            }
            8..=12 => {
                let (key, payable) = (self.key(), self.money(currency, 80));
                Planned::keyed(
                    key,
                    Request::Authorise {
                        key: key_of(key),
                        checkout,
                        payable,
                    },
                )
            }
            13..=16 => {
                let key = self.key();
                Planned::keyed(
                    key,
                    Request::Capture {
                        key: key_of(key),
                        checkout,
                    },
                )
            }
            17 => self.void(checkout),
            18 | 19 => {
                let (key, amount) = (self.key(), self.money(currency, 30));
                Planned::keyed(
                    key,
                    Request::Refund {
                        key: key_of(key),
                        checkout,
                        amount,
                        to: RefundTo::CardsUsed,
                    },
                )
            }
            22 => {
                let currency = self.currency();
                let key = self.key();
                let text = format!("SIMIMPORT{}", self.rng.random_range(0..4));
                let value = self.money(currency, 50);
                match import_rules().and_then(|rules| rules.import(&text)) {
                    Ok(code) => Planned::keyed(
                        key,
                        Request::Import {
                            key: key_of(key),
                            code,
                            spec: CardSpec::new(value),
                        },
                    ),
                    Err(_) => unreachable!("a simulated import code fits the rules"),
                }
            }
            _ if self.issued.is_empty() => self.void(checkout),
            _ => {
                let index = self.rng.random_range(0..self.issued.len());
                let currency = self.card_currency(index);
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
                let card = self
                    .issued
                    .get(index)
                    .map_or(CardId::from_u128(0), |(_, id)| *id);
                let by = Attribution::new(
                    reference("staff:sim".to_owned()),
                    Reason::new("simulated back office")
                        .unwrap_or_else(|_| unreachable!("a valid reason")),
                );
                let key = self.key();
                Planned::keyed(
                    key,
                    Request::Amend {
                        key: key_of(key),
                        card,
                        command,
                        by,
                    },
                )
            }
        }
    }

    fn void(&mut self, checkout: Reference) -> Planned {
        let key = self.key();
        Planned::keyed(
            key,
            Request::Void {
                key: key_of(key),
                checkout,
            },
        )
    }

    fn card_currency(&self, index: usize) -> Currency {
        self.issued
            .get(index)
            .and_then(|(_, id)| self.store.card(*id).ok().flatten())
            .map_or(Currency::EUR, |c| c.value.currency())
    }
}
