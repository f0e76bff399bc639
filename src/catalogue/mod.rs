//! The certificate catalogue: what a shop sells as gift certificates (Centra and Spryker).
//!
//! A [`CertificateDefinition`] is either *predetermined* (Centra's `Priceoff`: one value per
//! currency) or *any-amount* (Centra's `Dynamic Priceoff`: the buyer picks the value in the
//! selection's currency, within optional bounds). Spryker's variants (one card family, values
//! 50 EUR, 100 EUR...) are definitions sharing a [`family`](CertificateDefinition::family).
//! [`CertificateDefinition::resolve`] answers "what does this certificate cost and give in this
//! currency, for this requested amount"; [`Catalogue::listing`] renders Centra's
//! `GET /gift-certificates` JSON.
//!
//! ```
//! use giftcert::catalogue::{Catalogue, CertificateDefinition};
//! use giftcert::{Currency, Money};
//! use rust_decimal::Decimal;
//!
//! let fixed = CertificateDefinition::predetermined(
//!     "gift-50",
//!     "Gift certificate 50",
//!     [Money::parse("50", Currency::EUR)?, Money::parse("500", Currency::SEK)?],
//! )?;
//! let catalogue = Catalogue::new()
//!     .with(fixed)?
//!     .with(CertificateDefinition::any_amount("gift-any", "Pick an amount")?)?;
//!
//! let sek = catalogue.resolve("gift-50", Currency::SEK, None)?;
//! assert_eq!(sek.value(), Money::parse("500", Currency::SEK)?);
//! let picked = catalogue.resolve("gift-any", Currency::EUR, Some(Decimal::from(75)))?;
//! assert_eq!(picked.price(), Money::parse("75", Currency::EUR)?);
//! assert!(catalogue.resolve("gift-50", Currency::USD, None).is_err()); // no USD value
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bounds;
mod definition;
mod error;
mod id;
mod listing;

pub use self::bounds::AmountBounds;
pub use self::definition::{
    CertificateDefinition, CertificateKind, ResolvedCertificate, VoucherPurpose,
};
pub use self::error::CatalogueError;
pub use self::id::CertificateId;
pub use self::listing::{CatalogueListing, CurrencyFormats, ListedAmount, ListedCertificate};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::Currency;

/// The certificates a shop sells, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "Vec<CertificateDefinition>",
    into = "Vec<CertificateDefinition>"
)]
pub struct Catalogue {
    definitions: Vec<CertificateDefinition>,
}

impl TryFrom<Vec<CertificateDefinition>> for Catalogue {
    type Error = CatalogueError;

    fn try_from(definitions: Vec<CertificateDefinition>) -> Result<Self, Self::Error> {
        let mut catalogue = Catalogue::new();
        for def in definitions {
            catalogue.add(def)?;
        }
        Ok(catalogue)
    }
}

impl From<Catalogue> for Vec<CertificateDefinition> {
    fn from(c: Catalogue) -> Self {
        c.definitions
    }
}

impl Catalogue {
    /// An empty catalogue.
    #[must_use]
    pub const fn new() -> Catalogue {
        Catalogue {
            definitions: Vec::new(),
        }
    }

    /// Adds a definition.
    ///
    /// # Errors
    ///
    /// [`CatalogueError::DuplicateCertificate`] when its id is taken.
    pub fn add(&mut self, definition: CertificateDefinition) -> Result<(), CatalogueError> {
        if self.get(definition.id.as_str()).is_some() {
            return Err(CatalogueError::DuplicateCertificate(definition.id));
        }
        self.definitions.push(definition);
        Ok(())
    }

    /// Adds a definition, builder style.
    ///
    /// # Errors
    ///
    /// As [`Catalogue::add`].
    pub fn with(mut self, definition: CertificateDefinition) -> Result<Catalogue, CatalogueError> {
        self.add(definition)?;
        Ok(self)
    }

    /// The definition with this id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&CertificateDefinition> {
        self.definitions.iter().find(|d| d.id.as_str() == id)
    }

    /// The definition with this id, or [`CatalogueError::UnknownCertificate`].
    ///
    /// # Errors
    ///
    /// [`CatalogueError::UnknownCertificate`], or [`CatalogueError::InvalidId`] when `id`
    /// could not be an id at all.
    pub fn require(&self, id: &str) -> Result<&CertificateDefinition, CatalogueError> {
        self.get(id).ok_or_else(|| match CertificateId::new(id) {
            Ok(id) => CatalogueError::UnknownCertificate(id),
            Err(e) => e,
        })
    }

    /// Every definition, in the order added.
    pub fn iter(&self) -> impl Iterator<Item = &CertificateDefinition> {
        self.definitions.iter()
    }

    /// Resolves certificate `id` in `currency` for `requested` (see
    /// [`CertificateDefinition::resolve`]).
    ///
    /// # Errors
    ///
    /// [`CatalogueError::UnknownCertificate`] and those of [`CertificateDefinition::resolve`].
    pub fn resolve(
        &self,
        id: &str,
        currency: Currency,
        requested: Option<Decimal>,
    ) -> Result<ResolvedCertificate, CatalogueError> {
        self.require(id)?.resolve(currency, requested)
    }

    /// Centra's `GET /gift-certificates` view: each certificate by id, predetermined ones with
    /// `amountByCurrency`, each amount formatted under `formats`.
    #[must_use]
    pub fn listing(&self, formats: &CurrencyFormats) -> CatalogueListing {
        CatalogueListing(
            self.definitions
                .iter()
                .map(|d| (d.id.to_string(), ListedCertificate::new(d, formats)))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Money;

    fn money(s: &str, c: Currency) -> Money {
        Money::parse(s, c).unwrap()
    }

    fn gift2() -> CertificateDefinition {
        CertificateDefinition::predetermined(
            "gift-2",
            "Pre-defined gift certificate",
            [
                money("10", Currency::USD),
                money("100", Currency::SEK),
                money("1000", Currency::JPY),
            ],
        )
        .unwrap()
    }

    fn bounded_gift1() -> CertificateDefinition {
        CertificateDefinition::any_amount("gift-1", "Dynamic gift certificate")
            .unwrap()
            .with_bounds(
                AmountBounds::new(
                    Currency::SEK,
                    Some(money("50", Currency::SEK)),
                    Some(money("5000", Currency::SEK)),
                )
                .unwrap(),
            )
            .unwrap()
    }

    #[test]
    fn predetermined_gives_its_value_in_each_currency_and_price_equals_value() {
        let sold = gift2().resolve(Currency::JPY, None).unwrap();
        assert_eq!(sold.value(), money("1000", Currency::JPY));
        assert_eq!(sold.price(), sold.value());
        // Asking for exactly the value is fine too.
        assert!(
            gift2()
                .resolve(Currency::USD, Some(Decimal::from(10)))
                .is_ok()
        );
    }

    #[test]
    fn currency_not_offered() {
        let err = gift2().resolve(Currency::EUR, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "gift certificate \"gift-2\" is not offered in EUR"
        );
        let only = bounded_gift1().with_bounded_currencies_only(true);
        assert!(matches!(
            only.resolve(Currency::USD, Some(Decimal::ONE)),
            Err(CatalogueError::CurrencyNotOffered { .. })
        ));
        // Without the restriction, an unbounded currency is fine.
        assert!(
            bounded_gift1()
                .resolve(Currency::USD, Some(Decimal::ONE))
                .is_ok()
        );
    }

    #[test]
    fn amount_required_for_any_amount() {
        let err = bounded_gift1().resolve(Currency::SEK, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "gift certificate \"gift-1\" needs an amount in SEK: the buyer chooses its value"
        );
    }

    #[test]
    fn amount_not_allowed_for_predetermined() {
        let err = gift2()
            .resolve(Currency::USD, Some(Decimal::from(20)))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "gift certificate \"gift-2\" is worth 10.00 USD, not 20.00 USD"
        );
    }

    #[test]
    fn out_of_bounds() {
        let err = bounded_gift1()
            .resolve(Currency::SEK, Some(Decimal::from(10)))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "amount 10.00 SEK for gift certificate \"gift-1\" is outside 50.00 SEK to 5000.00 SEK"
        );
        assert!(
            bounded_gift1()
                .resolve(Currency::SEK, Some(Decimal::from(5001)))
                .is_err()
        );
        assert!(
            bounded_gift1()
                .resolve(Currency::SEK, Some(Decimal::from(5000)))
                .is_ok()
        );
        assert!(
            bounded_gift1()
                .resolve(Currency::SEK, Some(Decimal::from(50)))
                .is_ok()
        );
    }

    #[test]
    fn not_positive() {
        for bad in [Decimal::ZERO, Decimal::NEGATIVE_ONE] {
            assert!(matches!(
                bounded_gift1().resolve(Currency::USD, Some(bad)),
                Err(CatalogueError::NotPositive { .. })
            ));
        }
        assert!(matches!(
            CertificateDefinition::predetermined("x", "x", [money("0", Currency::USD)]),
            Err(CatalogueError::NotPositive { .. })
        ));
    }

    #[test]
    fn too_many_decimals_for_the_currency() {
        let err = bounded_gift1()
            .resolve(Currency::JPY, Some(Decimal::new(105, 1)))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "amount 10.5 has more decimals than JPY allows (0)"
        );
    }

    #[test]
    fn definitions_refuse_inconsistent_shapes() {
        assert!(matches!(
            CertificateDefinition::predetermined("x", "x", []),
            Err(CatalogueError::NoAmounts(_))
        ));
        assert!(matches!(
            CertificateDefinition::predetermined(
                "x",
                "x",
                [money("1", Currency::USD), money("2", Currency::USD)]
            ),
            Err(CatalogueError::DuplicateCurrency { .. })
        ));
        assert!(matches!(
            gift2().with_bounds(AmountBounds::new(Currency::USD, None, None).unwrap()),
            Err(CatalogueError::BoundsOnPredetermined(_))
        ));
        assert!(matches!(
            AmountBounds::new(
                Currency::USD,
                Some(money("2", Currency::USD)),
                Some(money("1", Currency::USD))
            ),
            Err(CatalogueError::InvertedBounds { .. })
        ));
        assert!(AmountBounds::new(Currency::USD, Some(money("2", Currency::EUR)), None).is_err());
        assert!(CertificateId::new("").is_err());
        assert!(CertificateId::new("has space").is_err());
        assert!(CertificateId::new(&"x".repeat(65)).is_err());
    }

    #[test]
    fn a_different_selling_price_needs_the_explicit_opt_in_and_a_value_beside_it() {
        let def = gift2();
        assert_eq!(
            def.resolve(Currency::USD, None).unwrap().price(),
            money("10", Currency::USD)
        );
        let discounted = def
            .clone()
            .with_selling_price_differing_from_value(money("8", Currency::USD))
            .unwrap();
        let sold = discounted.resolve(Currency::USD, None).unwrap();
        assert_eq!(sold.price(), money("8", Currency::USD));
        assert_eq!(sold.value(), money("10", Currency::USD));
        assert!(matches!(
            def.with_selling_price_differing_from_value(money("8", Currency::EUR)),
            Err(CatalogueError::PriceWithoutValue { .. })
        ));
    }

    #[test]
    fn variants_share_a_family() {
        let v50 = CertificateDefinition::predetermined(
            "ny-50",
            "New Year 50",
            [money("50", Currency::EUR)],
        )
        .unwrap()
        .with_family("new-year");
        let v100 = CertificateDefinition::predetermined(
            "ny-100",
            "New Year 100",
            [money("100", Currency::EUR)],
        )
        .unwrap()
        .with_family("new-year");
        let catalogue = Catalogue::new().with(v50).unwrap().with(v100).unwrap();
        let family: Vec<&str> = catalogue
            .iter()
            .filter(|d| d.family() == Some("new-year"))
            .map(|d| d.id().as_str())
            .collect();
        assert_eq!(family, ["ny-50", "ny-100"]);
    }

    #[test]
    fn catalogue_refuses_duplicates_and_names_unknown_ids() {
        let mut c = Catalogue::new();
        c.add(gift2()).unwrap();
        assert!(matches!(
            c.add(gift2()),
            Err(CatalogueError::DuplicateCertificate(_))
        ));
        assert_eq!(
            c.resolve("gift-9", Currency::USD, None)
                .unwrap_err()
                .to_string(),
            "no gift certificate \"gift-9\" in the catalogue"
        );
    }

    #[test]
    fn definitions_round_trip_through_serde_and_validate_on_the_way_in() {
        for def in [gift2(), bounded_gift1()] {
            let json = serde_json::to_string(&def).unwrap();
            assert_eq!(
                serde_json::from_str::<CertificateDefinition>(&json).unwrap(),
                def
            );
        }
        let bad = r#"{"giftCertificate":"x","name":"x","type":"predeterminedAmount","amounts":[]}"#;
        assert!(serde_json::from_str::<CertificateDefinition>(bad).is_err());
    }
}
