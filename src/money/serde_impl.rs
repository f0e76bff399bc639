//! Serde helpers shared by the crate's types.
//!
//! Amounts are written as strings (`"10.50"`) so that no JSON reader turns them into binary
//! floats. On the way in they are read exactly from a string, from a JSON integer, or from a
//! JSON number when `serde_json`'s `arbitrary_precision` feature keeps its text; a binary float
//! is refused, because it may already have lost the amount.

/// `#[serde(with = "crate::money::serde_impl::decimal")]` for a `Decimal` field.
pub(crate) mod decimal {
    use std::fmt;

    use rust_decimal::Decimal;
    use serde::de::{self, MapAccess, Visitor};
    use serde::{Deserializer, Serializer};

    use crate::money::parse_decimal;

    /// The key `serde_json` uses to hand over a number's text under `arbitrary_precision`.
    const JSON_NUMBER_TOKEN: &str = "$serde_json::private::Number";

    pub(crate) fn serialize<S: Serializer>(
        value: &Decimal,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Decimal, D::Error> {
        deserializer.deserialize_any(DecimalVisitor)
    }

    struct DecimalVisitor;

    impl<'de> Visitor<'de> for DecimalVisitor {
        type Value = Decimal;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a decimal number as a string or an integer")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
            parse_decimal(v).map_err(E::custom)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
            Ok(Decimal::from(v))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
            Ok(Decimal::from(v))
        }

        fn visit_i128<E: de::Error>(self, v: i128) -> Result<Decimal, E> {
            Decimal::try_from_i128_with_scale(v, 0).map_err(|_| E::custom("amount overflow"))
        }

        fn visit_u128<E: de::Error>(self, v: u128) -> Result<Decimal, E> {
            i128::try_from(v)
                .ok()
                .and_then(|v| Decimal::try_from_i128_with_scale(v, 0).ok())
                .ok_or_else(|| E::custom("amount overflow"))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
            Err(E::custom(format_args!(
                "amount {v} arrived as a binary floating-point number; send it as a string \
                 (\"{v}\") so that it stays exact"
            )))
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Decimal, A::Error> {
            match map.next_key::<String>()? {
                Some(key) if key == JSON_NUMBER_TOKEN => {
                    let text: String = map.next_value()?;
                    parse_decimal(&text).map_err(de::Error::custom)
                }
                _ => Err(de::Error::custom(
                    "expected a decimal number, found an object",
                )),
            }
        }
    }
}

/// `#[serde(with = "crate::money::serde_impl::shared_str")]` for an `Arc<str>` field: written and read
/// as a plain string (serde's own `Arc` support needs its `rc` feature).
pub(crate) mod shared_str {
    use std::borrow::Cow;
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        value: &Arc<str>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Arc<str>, D::Error> {
        Ok(Arc::from(
            Cow::<'de, str>::deserialize(deserializer)?.as_ref(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    struct Holder {
        #[serde(with = "super::decimal")]
        v: Decimal,
    }

    #[test]
    fn json_numbers_are_read_from_their_text_not_through_a_float() {
        // 0.1 + 0.2 style values survive exactly because the text is parsed.
        let h: Holder = serde_json::from_str(r#"{"v": 0.30000000000000004}"#).unwrap();
        assert_eq!(h.v.to_string(), "0.30000000000000004");
        let h: Holder = serde_json::from_str(r#"{"v": "12.50"}"#).unwrap();
        assert_eq!(h.v, Decimal::new(1250, 2));
        let h: Holder = serde_json::from_str(r#"{"v": -7}"#).unwrap();
        assert_eq!(h.v, Decimal::from(-7));
    }

    #[test]
    fn non_numbers_are_refused() {
        assert!(serde_json::from_str::<Holder>(r#"{"v": "abc"}"#).is_err());
        assert!(serde_json::from_str::<Holder>(r#"{"v": true}"#).is_err());
        assert!(serde_json::from_str::<Holder>(r#"{"v": {"x": 1}}"#).is_err());
    }
}
