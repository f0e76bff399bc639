//! Payment methods, and which of them may pay for gift certificates (Spryker and BigCommerce).
//!
//! The host declares its [`PaymentMethod`]s; a [`PaymentPolicy`] says which may pay for a
//! selection holding gift certificates. Gift credit never may: a gift certificate cannot be
//! paid for with a gift certificate (Spryker, BigCommerce). By default invoice-type methods are
//! barred too, Spryker's rule against fraud. Selections without certificates may use every
//! method.
//!
//! Gift credit can still pay the *product* part of a mixed selection: it is applied as credit
//! when totals are computed (see [`Totals`](crate::shop::Totals)), and what is left, including every
//! certificate line, is paid with a method this policy allows.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::shop::Selection;

/// Everything that can go wrong declaring or choosing a payment method.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PaymentError {
    /// The id is empty, too long, or uses other characters than `A-Z a-z 0-9 - _ .`.
    #[error("invalid payment method id \"{id}\": {reason}")]
    InvalidMethodId {
        /// The id given (at most 64 characters of it).
        id: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The method may not pay for a selection holding gift certificates.
    #[error("payment method \"{method}\" ({kind}) cannot pay for gift certificates")]
    NotAllowedForCertificates {
        /// The method's id.
        method: String,
        /// Its kind.
        kind: PaymentKind,
    },
}

/// What kind of payment a method is; the policy bars kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum PaymentKind {
    /// Card payments.
    Card,
    /// Pay later by invoice (barred for gift certificates by default: fraud).
    Invoice,
    /// Bank transfers and direct debits.
    BankTransfer,
    /// Wallets (PayPal, Apple Pay...).
    Wallet,
    /// Gift cards and store credit (never allowed for gift certificates).
    GiftCredit,
    /// Anything else.
    Other,
}

impl fmt::Display for PaymentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PaymentKind::Card => "card",
            PaymentKind::Invoice => "invoice",
            PaymentKind::BankTransfer => "bank transfer",
            PaymentKind::Wallet => "wallet",
            PaymentKind::GiftCredit => "gift credit",
            PaymentKind::Other => "other",
        })
    }
}

/// A payment method the host offers: an id and a kind.
///
/// ```
/// use giftcert::{PaymentKind, PaymentMethod};
///
/// let klarna = PaymentMethod::new("klarna-invoice", PaymentKind::Invoice)?;
/// assert_eq!(klarna.id(), "klarna-invoice");
/// assert!(PaymentMethod::new("", PaymentKind::Card).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "MethodRepr")]
pub struct PaymentMethod {
    id: String,
    kind: PaymentKind,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MethodRepr {
    id: String,
    kind: PaymentKind,
}

impl TryFrom<MethodRepr> for PaymentMethod {
    type Error = PaymentError;

    fn try_from(r: MethodRepr) -> Result<Self, Self::Error> {
        PaymentMethod::new(&r.id, r.kind)
    }
}

impl PaymentMethod {
    /// A method with this id and kind.
    ///
    /// # Errors
    ///
    /// [`PaymentError::InvalidMethodId`] when the id is empty, longer than 64 characters, or
    /// uses other characters than ASCII letters, digits, `-`, `_` and `.`.
    pub fn new(id: &str, kind: PaymentKind) -> Result<PaymentMethod, PaymentError> {
        if let Some(reason) = crate::ident::identifier_problem(id) {
            return Err(PaymentError::InvalidMethodId {
                id: crate::ident::shown(id),
                reason,
            });
        }
        Ok(PaymentMethod {
            id: id.to_owned(),
            kind,
        })
    }

    /// The id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The kind.
    #[must_use]
    pub const fn kind(&self) -> PaymentKind {
        self.kind
    }
}

/// Which payment methods may pay for a selection holding gift certificates.
///
/// Gift credit is always barred; the default also bars [`PaymentKind::Invoice`] (Spryker).
///
/// ```
/// use giftcert::{PaymentKind, PaymentMethod, PaymentPolicy};
///
/// let methods = [
///     PaymentMethod::new("card", PaymentKind::Card)?,
///     PaymentMethod::new("invoice", PaymentKind::Invoice)?,
///     PaymentMethod::new("giftcard", PaymentKind::GiftCredit)?,
/// ];
/// let default = PaymentPolicy::default();
/// let ids: Vec<&str> = default.for_certificates(&methods).map(|m| m.id()).collect();
/// assert_eq!(ids, ["card"]);
/// let trusting = PaymentPolicy::new().allowing_kind(PaymentKind::Invoice);
/// assert_eq!(trusting.for_certificates(&methods).count(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPolicy {
    #[serde(default = "default_barred_kinds")]
    barred_kinds: Vec<PaymentKind>,
    #[serde(default)]
    barred_methods: Vec<String>,
}

fn default_barred_kinds() -> Vec<PaymentKind> {
    vec![PaymentKind::Invoice, PaymentKind::GiftCredit]
}

impl Default for PaymentPolicy {
    fn default() -> Self {
        PaymentPolicy::new()
    }
}

impl PaymentPolicy {
    /// The default: invoice-type methods and gift credit barred for gift certificates.
    #[must_use]
    pub fn new() -> PaymentPolicy {
        PaymentPolicy {
            barred_kinds: default_barred_kinds(),
            barred_methods: Vec::new(),
        }
    }

    /// Also bars every method of `kind`.
    #[must_use]
    pub fn barring_kind(mut self, kind: PaymentKind) -> PaymentPolicy {
        if !self.barred_kinds.contains(&kind) {
            self.barred_kinds.push(kind);
        }
        self
    }

    /// Allows methods of `kind` again; gift credit stays barred whatever the policy says.
    #[must_use]
    pub fn allowing_kind(mut self, kind: PaymentKind) -> PaymentPolicy {
        self.barred_kinds.retain(|k| *k != kind);
        self
    }

    /// Also bars the method with this id (Spryker's configured list).
    #[must_use]
    pub fn barring_method(mut self, id: impl Into<String>) -> PaymentPolicy {
        let id = id.into();
        if !self.barred_methods.contains(&id) {
            self.barred_methods.push(id);
        }
        self
    }

    /// Whether `method` may pay for gift certificates.
    #[must_use]
    pub fn allows_for_certificates(&self, method: &PaymentMethod) -> bool {
        method.kind != PaymentKind::GiftCredit
            && !self.barred_kinds.contains(&method.kind)
            && !self.barred_methods.contains(&method.id)
    }

    /// The methods that may pay for gift certificates, in the order given.
    pub fn for_certificates<'a>(
        &'a self,
        methods: &'a [PaymentMethod],
    ) -> impl Iterator<Item = &'a PaymentMethod> + 'a {
        methods.iter().filter(|m| self.allows_for_certificates(m))
    }

    /// The methods that may pay for `selection`: all of them, unless it holds gift
    /// certificates.
    #[must_use]
    pub fn methods_for<'a>(
        &self,
        selection: &Selection,
        methods: &'a [PaymentMethod],
    ) -> Vec<&'a PaymentMethod> {
        methods
            .iter()
            .filter(|m| !selection.holds_certificates() || self.allows_for_certificates(m))
            .collect()
    }

    /// Checks that `method` may pay for `selection`.
    ///
    /// # Errors
    ///
    /// [`PaymentError::NotAllowedForCertificates`] when the selection holds gift certificates
    /// and the policy bars the method.
    pub fn check(&self, selection: &Selection, method: &PaymentMethod) -> Result<(), PaymentError> {
        if selection.holds_certificates() && !self.allows_for_certificates(method) {
            return Err(PaymentError::NotAllowedForCertificates {
                method: method.id.clone(),
                kind: method.kind,
            });
        }
        Ok(())
    }
}
