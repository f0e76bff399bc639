//! [`Shop`]: what the handlers share (the gift card service, the catalogue, the payment rules,
//! and the selections and checkouts this demo keeps in memory).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};

use giftcert::catalogue::CurrencyFormats;
use giftcert::money::{MoneyFormat, ShownDecimals};
use giftcert::shop::PaymentPolicy;
use giftcert::store::{AsyncRedeemer, AsyncStore};
use giftcert::{
    CardId, Catalogue, CertificateDefinition, Currency, Money, PaymentKind, PaymentMethod,
    TotalsSettings,
};

use crate::bigcommerce::CheckoutRecord;
use crate::centra::SelectionRecord;
use crate::service::GiftCards;

/// The shop behind the router: the gift card service over store `S`, the catalogue and the
/// payment rules, and the selections (Centra) and checkouts (BigCommerce) in progress.
///
/// Selections and checkouts live in memory, as a web shop's carts would live in its own
/// database: only the cards, their ledgers, holds and idempotency records go to the store.
pub struct Shop<S> {
    pub(crate) cards: GiftCards<S>,
    pub(crate) catalogue: Catalogue,
    pub(crate) formats: CurrencyFormats,
    pub(crate) methods: Vec<PaymentMethod>,
    pub(crate) payment_policy: PaymentPolicy,
    pub(crate) totals: TotalsSettings,
    pub(crate) selections: Mutex<HashMap<String, SelectionRecord>>,
    pub(crate) checkouts: Mutex<HashMap<String, CheckoutRecord>>,
    pub(crate) staff: crate::auth::StaffTokens,
    pub(crate) webhook: Option<crate::webhook::WebhookVerifier>,
    pub(crate) proxies: crate::edge::TrustedProxies,
    pub(crate) limit: Option<crate::edge::RequestLimit>,
}

impl<S: AsyncStore> fmt::Debug for Shop<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shop")
            .field("cards", &self.cards)
            .field("catalogue", &self.catalogue)
            .field("methods", &self.methods)
            .finish_non_exhaustive()
    }
}

/// Why the built-in catalogue could not be made (it is fixed, so only a library change can
/// cause this).
#[derive(Debug)]
pub struct CatalogueSetupError(String);

impl fmt::Display for CatalogueSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the built-in catalogue is invalid: {}", self.0)
    }
}

impl std::error::Error for CatalogueSetupError {}

/// The demo catalogue of Centra's page: `gift-2`, worth 10.00 USD, 100 SEK or 1 000 JPY, and
/// `gift-1`, whose value the buyer picks.
///
/// # Errors
///
/// [`CatalogueSetupError`] if the library refuses one of the definitions.
pub fn demo_catalogue() -> Result<Catalogue, CatalogueSetupError> {
    let err = |e: &dyn fmt::Display| CatalogueSetupError(e.to_string());
    let money = |text: &str, currency| Money::parse(text, currency).map_err(|e| err(&e));
    let predetermined = CertificateDefinition::predetermined(
        "gift-2",
        "Pre-defined gift certificate",
        [
            money("10", Currency::USD)?,
            money("100", Currency::SEK)?,
            money("1000", Currency::JPY)?,
        ],
    )
    .map_err(|e| err(&e))?
    .with_currency_of_sale_only(true)
    .with_show_gift_amount(false);
    let any_amount = CertificateDefinition::any_amount("gift-1", "Dynamic gift certificate")
        .map_err(|e| err(&e))?
        .with_currency_of_sale_only(false)
        .with_show_gift_amount(true);
    Catalogue::new()
        .with(predetermined)
        .and_then(|c| c.with(any_amount))
        .map_err(|e| err(&e))
}

/// The payment methods the demo offers: a card, a wallet, an invoice (refused for gift
/// certificates) and gift credit (never allowed to buy gift certificates).
fn demo_methods() -> Result<Vec<PaymentMethod>, CatalogueSetupError> {
    [
        ("card", PaymentKind::Card),
        ("paypal", PaymentKind::Wallet),
        ("invoice", PaymentKind::Invoice),
        ("giftcard", PaymentKind::GiftCredit),
    ]
    .into_iter()
    .map(|(id, kind)| PaymentMethod::new(id, kind).map_err(|e| CatalogueSetupError(e.to_string())))
    .collect()
}

impl<S: AsyncStore + 'static> Shop<S> {
    /// A shop selling [`demo_catalogue`] and redeeming cards through `redeemer`.
    ///
    /// # Errors
    ///
    /// [`CatalogueSetupError`] if the built-in catalogue is refused by the library.
    pub fn new(redeemer: AsyncRedeemer<S>) -> Result<Shop<S>, CatalogueSetupError> {
        Ok(Shop {
            cards: GiftCards::new(redeemer),
            catalogue: demo_catalogue()?,
            // Centra's listing: "10.00 USD", "100 SEK", "1 000 JPY".
            formats: CurrencyFormats::new()
                .with(
                    Currency::SEK,
                    MoneyFormat::new().decimals(ShownDecimals::WholeWhenExact),
                )
                .with(Currency::JPY, MoneyFormat::new().thousands_separator(' ')),
            methods: demo_methods()?,
            payment_policy: PaymentPolicy::default(),
            totals: TotalsSettings::default(),
            selections: Mutex::new(HashMap::new()),
            checkouts: Mutex::new(HashMap::new()),
            staff: crate::auth::StaffTokens::default(),
            webhook: None,
            proxies: crate::edge::TrustedProxies::none(),
            limit: None,
        })
    }

    /// The shop checking the payment provider's calls (`payment-result`) with `verifier`;
    /// without one, every provider call answers 401.
    pub fn with_webhook(mut self, verifier: crate::webhook::WebhookVerifier) -> Shop<S> {
        self.webhook = Some(verifier);
        self
    }

    /// The shop with `staff` as the bearer tokens its staff routes accept, each for its
    /// scopes; without any, every staff route answers 401.
    pub fn with_staff(mut self, staff: crate::auth::StaffTokens) -> Shop<S> {
        self.staff = staff;
        self
    }

    /// The shop refusing a client's requests over `limit` (429); without one, none is.
    pub fn with_request_limit(mut self, limit: Option<crate::edge::RequestLimit>) -> Shop<S> {
        self.limit = limit;
        self
    }

    /// The gift cards the shop serves, for the host's own jobs (the upkeep, say).
    pub fn gift_cards(&self) -> &crate::service::GiftCards<S> {
        &self.cards
    }

    /// The shop trusting `proxies` to say who the client is (`X-Forwarded-For`): the guard
    /// then counts each shopper behind them apart. Without any, the client is the TCP peer.
    pub fn with_trusted_proxies(mut self, proxies: crate::edge::TrustedProxies) -> Shop<S> {
        self.proxies = proxies;
        self
    }
}

/// Locks `mutex`, carrying on after a panic elsewhere: the maps hold plain values that a panic
/// cannot leave half-written (every change is one insert).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A fresh id no one can guess (128 random bits), with `prefix`.
pub(crate) fn fresh_id(prefix: &str) -> String {
    format!("{prefix}{}", CardId::random())
}
