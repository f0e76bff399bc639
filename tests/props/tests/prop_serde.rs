//! Property 6: every public data type round-trips through JSON unchanged (and deserialising
//! validates, so the JSON could only have come from a valid value).

use giftcert::strategies::{
    card_with_history, certificate_definition, currency, money, selection, tax_rate,
};
use giftcert::{
    Catalogue, CertificateDefinition, Currency, GiftCard, Money, Selection, TaxRate, Totals,
    TotalsSettings, card::LedgerEntry,
};
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    value: &T,
) -> Result<(), TestCaseError> {
    let json = serde_json::to_string(value).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: T =
        serde_json::from_str(&json).map_err(|e| TestCaseError::fail(format!("{e}: {json}")))?;
    prop_assert_eq!(&back, value);
    Ok(())
}

proptest! {
    #![proptest_config(giftcert_props::config("proptest-regressions/prop_serde.txt"))]

    #[test]
    fn money_currencies_and_rates_round_trip(m in money(), c in currency(), r in tax_rate()) {
        round_trip::<Money>(&m)?;
        round_trip::<Currency>(&c)?;
        round_trip::<TaxRate>(&r)?;
    }

    #[test]
    fn cards_and_their_ledgers_round_trip((card, ledger) in currency().prop_flat_map(card_with_history)) {
        round_trip::<GiftCard>(&card)?;
        round_trip::<Vec<LedgerEntry>>(&ledger)?;
    }

    #[test]
    fn definitions_selections_and_totals_round_trip(
        (def, sel) in currency().prop_flat_map(|c| (certificate_definition(c), selection(c)))
    ) {
        round_trip::<CertificateDefinition>(&def)?;
        round_trip::<Catalogue>(&Catalogue::new().with(def).unwrap())?;
        round_trip::<Selection>(&sel)?;
        let totals = Totals::compute(&sel, Vec::<(String, Money)>::new(), &TotalsSettings::default()).unwrap();
        round_trip::<Totals>(&totals)?;
    }
}
