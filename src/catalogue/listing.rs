//! Centra's `GET /gift-certificates` listing: each certificate with its amounts per currency, formatted.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize, Serializer};

use super::*;
use crate::money::Currency;
use crate::money::MoneyFormat;

/// Display formats per currency, with a fallback for the others.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrencyFormats {
    fallback: MoneyFormat,
    by_currency: Vec<(Currency, MoneyFormat)>,
}

impl CurrencyFormats {
    /// [`MoneyFormat::new`] for every currency.
    #[must_use]
    pub fn new() -> CurrencyFormats {
        CurrencyFormats::default()
    }

    /// Uses `format` for `currency`.
    #[must_use]
    pub fn with(mut self, currency: Currency, format: MoneyFormat) -> CurrencyFormats {
        self.by_currency.retain(|(c, _)| *c != currency);
        self.by_currency.push((currency, format));
        self
    }

    /// The format for `currency`.
    #[must_use]
    pub fn for_currency(&self, currency: Currency) -> &MoneyFormat {
        self.by_currency
            .iter()
            .find(|(c, _)| *c == currency)
            .map_or(&self.fallback, |(_, f)| f)
    }
}

/// Centra's `GET /gift-certificates` response: certificates by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CatalogueListing(pub(super) BTreeMap<String, ListedCertificate>);

impl CatalogueListing {
    /// The listed certificate with this id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&ListedCertificate> {
        self.0.get(id)
    }
}

/// One entry of [`CatalogueListing`], in Centra's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedCertificate {
    gift_certificate: String,
    name: String,
    currency_of_sale_only: bool,
    show_gift_amount: bool,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount_by_currency: Option<BTreeMap<String, ListedAmount>>,
}

impl ListedCertificate {
    pub(super) fn new(def: &CertificateDefinition, formats: &CurrencyFormats) -> ListedCertificate {
        let (kind, amount_by_currency) = match &def.kind {
            CertificateKind::Predetermined { amounts } => (
                "predeterminedAmount",
                Some(
                    amounts
                        .iter()
                        .map(|m| {
                            (
                                m.currency().code().to_owned(),
                                ListedAmount {
                                    amount: m.format(formats.for_currency(m.currency())),
                                    amount_as_number: m.amount(),
                                },
                            )
                        })
                        .collect(),
                ),
            ),
            CertificateKind::AnyAmount { .. } => ("anyAmount", None),
        };
        ListedCertificate {
            gift_certificate: def.id.to_string(),
            name: def.name.clone(),
            currency_of_sale_only: def.currency_of_sale_only,
            show_gift_amount: def.show_gift_amount,
            kind,
            amount_by_currency,
        }
    }
}

/// An amount in Centra's listing: `{"amount": "10.00 USD", "amountAsNumber": 10}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedAmount {
    amount: String,
    #[serde(serialize_with = "whole_as_number")]
    amount_as_number: Decimal,
}

/// Writes a whole amount as a JSON integer (`10`), as Centra does. A fractional one is written
/// as a string (`"10.5"`): serde has no exact decimal number, and a binary float could change it.
fn whole_as_number<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    match i64::try_from(*value) {
        Ok(whole) if value.fract().is_zero() => serializer.serialize_i64(whole),
        _ => serializer.collect_str(value),
    }
}
