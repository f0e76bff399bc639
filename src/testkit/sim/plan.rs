//! The planned requests and the planner: what the simulated shoppers and staff ask, as the
//! seed picks it.

use crate::redeem::CheckoutId;
use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::RngExt;

use crate::card::{Attribution, CardId, CardSpec, Reason, Reference, ReversalReason};
use crate::catalogue::AmountBounds;
use crate::money::{Currency, Money};
use crate::redeem::{CardCommand, RefundTo, Request, ReversalScope};
use crate::store::Store;

use super::world::{World, import_rules, key_of, per_mille, reference};

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

    fn unkeyed(request: Request) -> Planned {
        Planned {
            request,
            client: None,
            key: None,
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

/// The currencies a run uses: one of each number of decimals (0, 2 and 3), so that minor-unit
/// slips show in every scale.
pub(super) const CURRENCIES: [Currency; 3] = [Currency::JPY, Currency::EUR, Currency::KWD];

/// Planned key numbers from this one up are an order's issue key (`order-issue:order-n`).
pub(super) const ORDER_KEYS: u32 = 1_000_000;

pub(super) fn checkout_currency(checkout: u32) -> Currency {
    CURRENCIES[checkout as usize % CURRENCIES.len()]
}

impl<S: Store, F: Fn() -> S> World<'_, S, F> {
    pub(super) fn currency(&mut self) -> Currency {
        CURRENCIES[self.rng.random_range(0..CURRENCIES.len())]
    }

    /// An amount of at most `max` whole units, from one minor unit up: a few minor units, whole
    /// units, or any amount in between.
    pub(super) fn money(&mut self, currency: Currency, max: i64) -> Money {
        let scale = 10_i64.pow(currency.minor_units());
        let top = (max * scale).max(1);
        let minor = match self.rng.random_range(0..4) {
            0 => self.rng.random_range(1..=top.min(3)),
            1 => self.rng.random_range(1..=max.max(1)) * scale,
            _ => self.rng.random_range(1..=top),
        };
        Money::from_minor(minor, currency).unwrap_or(Money::zero(currency))
    }

    /// An amount near `around`: one minor unit below or above it, itself, or below it.
    fn near(&mut self, around: Money) -> Money {
        let unit = Money::from_minor(1, around.currency()).unwrap_or(around);
        let picked = match self.rng.random_range(0..5) {
            0 => around.checked_sub(unit),
            1 => around.checked_add(unit),
            2 => Ok(around),
            _ => {
                let minor = around.to_minor().unwrap_or(1).max(1);
                Money::from_minor(self.rng.random_range(1..=minor), around.currency())
            }
        };
        picked.unwrap_or(around)
    }

    /// A fresh key, or (at [`SimConfig::key_reuse`](super::SimConfig::key_reuse)) one an
    /// earlier request used, for another request: the system must refuse it with a conflict
    /// once the first took effect.
    pub(super) fn key(&mut self) -> u32 {
        if self.next_key > 0 && per_mille(&mut self.rng, self.sim.config.key_reuse) {
            return self.rng.random_range(1..=self.next_key);
        }
        self.next_key += 1;
        self.next_key
    }

    /// A code to type: a guess one time in five, else an issued card's, most often one in
    /// `currency` (a checkout takes only cards of its own).
    fn code_ref(&mut self, currency: Currency) -> CodeRef {
        if self.issued.is_empty() || self.rng.random_range(0..5) == 0 {
            return CodeRef::Guess(self.rng.random_range(0..8));
        }
        let index = self.rng.random_range(0..self.issued.len());
        if self.rng.random_bool(0.25) {
            return CodeRef::Issued(index);
        }
        let same: Vec<usize> = (0..self.issued.len())
            .filter(|&i| self.card_currency(i) == currency)
            .collect();
        match same.is_empty() {
            true => CodeRef::Issued(index),
            false => CodeRef::Issued(same[self.rng.random_range(0..same.len())]),
        }
    }

    /// An instant near now for an expiry: minutes to days ahead (to the millisecond), now
    /// itself, or just past.
    fn expiry(&mut self) -> DateTime<Utc> {
        match self.rng.random_range(0..7) {
            0 => self.now,
            // The edges of the years a card may expire in, and just past them.
            6 => {
                let edges = [
                    Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).single(),
                    Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).single(),
                    Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).single(),
                    Utc.with_ymd_and_hms(0, 12, 31, 23, 59, 59).single(),
                ];
                let edge = edges[self.rng.random_range(0..edges.len())];
                edge.unwrap_or(self.now)
            }
            1 => self.now - Duration::milliseconds(self.rng.random_range(1..=60_000)),
            _ => {
                self.now
                    + Duration::minutes(self.rng.random_range(1..=3 * 24 * 60))
                    + Duration::milliseconds(self.rng.random_range(0..1000))
            }
        }
    }

    /// The issue of one card of each of `values`, expiring at `expires_at`.
    pub(super) fn issue(
        &mut self,
        values: Vec<Money>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Planned {
        let specs = values
            .into_iter()
            .map(|v| {
                let mut spec = CardSpec::new(v);
                spec.expires_at = expires_at;
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

    /// A card the run issued, by the seed's pick, with its currency; none before any.
    fn some_card(&mut self) -> Option<(CardId, Currency)> {
        if self.issued.is_empty() {
            return None;
        }
        let index = self.rng.random_range(0..self.issued.len());
        let currency = self.card_currency(index);
        self.issued.get(index).map(|(_, id)| (*id, currency))
    }

    /// The next request the seed picks: every request the protocol knows, the common ones
    /// most often.
    pub(super) fn plan(&mut self) -> Planned {
        let checkouts = self.sim.config.checkouts.max(1) as u32;
        let number = self.rng.random_range(0..checkouts);
        let currency = checkout_currency(number);
        let checkout = reference(format!("checkout-{number}"));
        let client_number = self.rng.random_range(0..2);
        let client = reference(format!("client-{client_number}"));
        let pick = match self.next_step(&checkout) {
            Some(pick) if self.rng.random_bool(0.5) => pick,
            _ => self.rng.random_range(0..100),
        };
        match pick {
            0..=3 => {
                let currency = self.currency();
                let count = if self.rng.random_range(0..4) == 0 {
                    2
                } else {
                    1
                };
                let values = (0..count).map(|_| self.money(currency, 50)).collect();
                let expires_at = self.rng.random_bool(0.4).then(|| self.expiry());
                self.issue(values, expires_at)
            }
            // After an order's cards were asked for, its purchase is reversed now and then.
            4 | 5 if !self.orders.is_empty() && self.rng.random_bool(0.5) => {
                self.reverse_purchase()
            }
            4 | 5 => self.issue_for_order(),
            6..=8 => {
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
            9..=26 => {
                let code = self.code_ref(currency);
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
            27..=30 => {
                let code = self.code_ref(currency);
                let code = self.code_of(code);
                Planned::looked_up(client_number, Request::CheckBalance { client, code })
            }
            31..=34 => {
                let code = self.code_ref(currency);
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
            35..=53 => {
                let (key, payable) = (self.key(), self.money(currency, 80));
                let request = if pick <= 48 {
                    Request::Authorise {
                        key: key_of(key),
                        checkout,
                        payable,
                    }
                } else {
                    Request::ChangeAuthorisation {
                        key: key_of(key),
                        checkout,
                        payable,
                    }
                };
                Planned::keyed(key, request)
            }
            54..=63 => {
                let key = self.key();
                Planned::keyed(
                    key,
                    Request::Capture {
                        key: key_of(key),
                        checkout,
                    },
                )
            }
            64..=69 => {
                let held = self.model.amounts_of(&checkout).0;
                let amount = match held {
                    Some(held) => self.near(held),
                    None => self.money(currency, 40),
                };
                let key = self.key();
                Planned::keyed(
                    key,
                    Request::CapturePart {
                        key: key_of(key),
                        checkout,
                        amount,
                    },
                )
            }
            70..=73 => self.void(checkout),
            74..=80 => {
                let left = self.model.amounts_of(&checkout).1;
                let amount = match left {
                    Some(left) if self.rng.random_bool(0.7) => self.near(left),
                    _ => self.money(currency, 30),
                };
                let to = if pick <= 78 {
                    RefundTo::CardsUsed
                } else {
                    RefundTo::NewCard
                };
                let key = self.key();
                Planned::keyed(
                    key,
                    Request::Refund {
                        key: key_of(key),
                        checkout,
                        amount,
                        to,
                    },
                )
            }
            81 | 82 => {
                // Now and then in another currency than the checkout's: refused if it exists.
                let currency = if self.rng.random_range(0..4) == 0 {
                    self.currency()
                } else {
                    currency
                };
                let customer = reference(format!("customer-{}", self.rng.random_range(0..2)));
                Planned::unkeyed(Request::SetCustomer {
                    checkout,
                    currency,
                    customer,
                })
            }
            83 | 84 => Planned::unkeyed(Request::CheckoutCards { checkout }),
            85..=91 => match self.some_card() {
                Some((card, currency)) => self.amend(card, currency),
                None => self.void(checkout),
            },
            92 | 94 if self.orders.is_empty() => self.issue_for_order(),
            92 | 94 => self.reverse_purchase(),
            93 => match self.some_card() {
                Some((card, _)) => {
                    let key = self.key();
                    Planned::keyed(
                        key,
                        Request::ReplaceCode {
                            key: key_of(key),
                            card,
                            by: staff(),
                        },
                    )
                }
                None => self.void(checkout),
            },
            95 | 96 => Planned::unkeyed(Request::Sweep {
                limit: self.rng.random_range(1..=3),
            }),
            97 => Planned::unkeyed(Request::Prune {
                limit: self.rng.random_range(1..=5),
            }),
            _ => match self.some_card() {
                Some((card, _)) if pick == 98 => Planned::unkeyed(Request::Card { card }),
                Some((card, _)) => Planned::unkeyed(Request::History { card }),
                None => Planned::unkeyed(Request::Card {
                    card: CardId::from_u128(self.rng.random()),
                }),
            },
        }
    }

    /// The pick (in [`World::plan`]'s ranges) of a step a shopper would take next on
    /// `checkout`, as the model has it: apply a code, authorise, capture in whole or in part,
    /// change or void, refund.
    fn next_step(&mut self, checkout: &CheckoutId) -> Option<u32> {
        let (apply, authorise, change, capture, part, void, refund) = (9, 35, 49, 54, 64, 70, 74);
        let stage = self.model.stage(checkout).unwrap_or(("open", 0));
        let roll = self.rng.random_range(0..100);
        Some(match stage {
            ("open" | "voided", 0) => apply,
            ("open" | "voided", _) if roll < 30 => apply,
            ("open" | "voided", _) => authorise,
            ("authorised", _) if roll < 40 => capture,
            ("authorised", _) if roll < 70 => part,
            ("authorised", _) if roll < 85 => change,
            ("authorised", _) => void,
            ("captured", _) if roll < 75 => refund,
            ("captured", _) => 79,
            _ => return None,
        })
    }

    /// A back-office command on `card`, in `currency`.
    fn amend(&mut self, card: CardId, currency: Currency) -> Planned {
        let command = match self.rng.random_range(0..9) {
            8 => CardCommand::Unblock,
            0 => CardCommand::Disable,
            1 => CardCommand::Enable,
            2 => CardCommand::Adjust {
                change: self.money(currency, 20),
            },
            3 => CardCommand::Adjust {
                change: self.money(currency, 10).negated(),
            },
            4 => CardCommand::Reload {
                amount: self.money(currency, 20),
                bounds: None,
            },
            5 => {
                // Bounds a minor unit either side of the amount, or on it.
                let amount = self.money(currency, 20);
                let (lo, hi) = (self.near(amount), self.near(amount));
                let (lo, hi) = if lo.amount() <= hi.amount() {
                    (lo, hi)
                } else {
                    (hi, lo)
                };
                let bounds = AmountBounds::new(currency, Some(lo), Some(hi)).ok();
                CardCommand::Reload { amount, bounds }
            }
            6 => CardCommand::ChangeExpiry {
                expires_at: Some(self.expiry()),
            },
            _ => CardCommand::ChangeExpiry { expires_at: None },
        };
        let key = self.key();
        Planned::keyed(
            key,
            Request::Amend {
                key: key_of(key),
                card,
                command,
                by: staff(),
            },
        )
    }

    /// The cards of one of three orders, one or two of them.
    fn issue_for_order(&mut self) -> Planned {
        let number = self.rng.random_range(0..3);
        let currency = CURRENCIES[number as usize % CURRENCIES.len()];
        let order: Reference = reference(format!("order-{number}"));
        if !self.orders.contains(&number) {
            self.orders.push(number);
        }
        let count = if self.rng.random_bool(0.3) { 2 } else { 1 };
        let specs = (0..count)
            .map(|_| {
                let mut spec = CardSpec::new(self.money(currency, 40));
                spec.order = Some(order.clone());
                spec
            })
            .collect();
        Planned::keyed(ORDER_KEYS + number, Request::IssueForOrder { order, specs })
    }

    /// A refund or chargeback of an order whose cards were asked for (now and then of one
    /// that bought none): all its cards, or one card the world knows, which the order may not
    /// have bought.
    fn reverse_purchase(&mut self) -> Planned {
        let number = match self.orders.len() {
            0 => 3,
            n if self.rng.random_range(0..8) > 0 => self.orders[self.rng.random_range(0..n)],
            _ => 3,
        };
        let order: Reference = reference(format!("order-{number}"));
        let reason = if self.rng.random_bool(0.5) {
            ReversalReason::Refunded
        } else {
            ReversalReason::ChargedBack
        };
        let scope = match self.some_card() {
            Some((card, _)) if self.rng.random_bool(0.3) => ReversalScope::Cards(vec![card]),
            _ => ReversalScope::All,
        };
        let key = self.key();
        Planned::keyed(
            key,
            Request::ReversePurchase {
                key: key_of(key),
                order,
                scope,
                reason,
                by: staff(),
            },
        )
    }

    fn void(&mut self, checkout: CheckoutId) -> Planned {
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

/// The simulated staff member, for back-office requests.
fn staff() -> Attribution {
    Attribution::new(
        reference("staff:sim".to_owned()),
        Reason::new("simulated back office").unwrap_or_else(|_| unreachable!("a valid reason")),
    )
}
