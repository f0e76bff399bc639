//! What the catalogue refuses: bad ids, bounds, amounts and currencies.

use super::*;
use crate::money::Currency;
use crate::money::{Money, MoneyError};

/// Everything that can go wrong defining or resolving a certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogueError {
    /// The id is empty, too long or has characters outside `A-Z a-z 0-9 - _ .`.
    #[error("invalid certificate id \"{id}\": {reason}")]
    InvalidId {
        /// The id given (at most 64 characters of it).
        id: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// No definition with this id is in the catalogue.
    #[error("no gift certificate \"{0}\" in the catalogue")]
    UnknownCertificate(CertificateId),
    /// Two definitions share an id.
    #[error("gift certificate \"{0}\" is already in the catalogue")]
    DuplicateCertificate(CertificateId),
    /// A predetermined certificate was defined with no value.
    #[error("gift certificate \"{0}\" has no value in any currency")]
    NoAmounts(CertificateId),
    /// A definition lists two values or bounds for one currency.
    #[error("gift certificate \"{id}\" lists {currency} twice")]
    DuplicateCurrency {
        /// The certificate.
        id: CertificateId,
        /// The repeated currency.
        currency: Currency,
    },
    /// The certificate is not sold in this currency.
    #[error("gift certificate \"{id}\" is not offered in {currency}")]
    CurrencyNotOffered {
        /// The certificate.
        id: CertificateId,
        /// The currency asked for.
        currency: Currency,
    },
    /// An any-amount certificate needs the buyer's amount.
    #[error("gift certificate \"{id}\" needs an amount in {currency}: the buyer chooses its value")]
    AmountRequired {
        /// The certificate.
        id: CertificateId,
        /// The selection's currency.
        currency: Currency,
    },
    /// A predetermined certificate was asked for a value it does not have.
    #[error("gift certificate \"{id}\" is worth {allowed}, not {requested}")]
    AmountNotAllowed {
        /// The certificate.
        id: CertificateId,
        /// The amount asked for.
        requested: Money,
        /// Its value in that currency.
        allowed: Money,
    },
    /// The amount is outside the certificate's bounds for the currency.
    #[error("amount {requested} for gift certificate \"{id}\" is outside {bounds}")]
    OutOfBounds {
        /// The certificate.
        id: CertificateId,
        /// The amount asked for.
        requested: Money,
        /// The bounds for that currency.
        bounds: AmountBounds,
    },
    /// A certificate value or price must be above zero.
    #[error("gift certificate \"{id}\" amount {amount} is not positive")]
    NotPositive {
        /// The certificate.
        id: CertificateId,
        /// The amount given.
        amount: Money,
    },
    /// Bounds whose minimum is above their maximum.
    #[error("bounds minimum {min} is above maximum {max}")]
    InvertedBounds {
        /// The minimum.
        min: Money,
        /// The maximum.
        max: Money,
    },
    /// Bounds were given to a certificate whose value is fixed.
    #[error(
        "gift certificate \"{0}\" has fixed values; bounds apply to any-amount certificates only"
    )]
    BoundsOnPredetermined(CertificateId),
    /// A selling price was given for a currency the certificate has no value in.
    #[error("gift certificate \"{id}\" has no value in {currency} to set a selling price beside")]
    PriceWithoutValue {
        /// The certificate.
        id: CertificateId,
        /// The price's currency.
        currency: Currency,
    },
    /// An amount could not be built (too many decimals for the currency, mixed currencies).
    #[error(transparent)]
    Money(#[from] MoneyError),
}
