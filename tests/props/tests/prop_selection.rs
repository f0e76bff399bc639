//! Property 3: under the exclusive policy no sequence of operations leaves a certificate beside
//! a product, or two certificates in one selection.

use giftcert::{
    Catalogue, CertificateDefinition, Currency, Money, PriceBasis, Selection, SelectionPolicy,
    TaxRate,
    shop::{ProductLine, ProductWithCertificate},
};
use proptest::prelude::*;
use rust_decimal::Decimal;

#[derive(Debug, Clone)]
enum Op {
    AddProduct(u8, u8),
    AddCertificate(bool, u16),
    SetProductQuantity(u8, u8),
    SetCertificateQuantity(bool, u8),
    RemoveProduct(u8),
    RemoveCertificate(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0_u8..4, 0_u8..4).prop_map(|(s, q)| Op::AddProduct(s, q)),
        (any::<bool>(), 1_u16..500).prop_map(|(f, a)| Op::AddCertificate(f, a)),
        (0_u8..4, 0_u8..4).prop_map(|(s, q)| Op::SetProductQuantity(s, q)),
        (any::<bool>(), 0_u8..4).prop_map(|(f, q)| Op::SetCertificateQuantity(f, q)),
        (0_u8..4).prop_map(Op::RemoveProduct),
        any::<bool>().prop_map(Op::RemoveCertificate),
    ]
}

fn catalogue() -> Catalogue {
    let usd = Money::parse("25", Currency::USD).unwrap();
    Catalogue::new()
        .with(CertificateDefinition::predetermined("fixed", "Fixed", [usd]).unwrap())
        .unwrap()
        .with(CertificateDefinition::any_amount("any", "Any amount").unwrap())
        .unwrap()
}

fn id(fixed: bool) -> &'static str {
    if fixed { "fixed" } else { "any" }
}

proptest! {
    #![proptest_config(giftcert_props::config("proptest-regressions/prop_selection.txt"))]

    /// Whatever the shopper does (and whether products are refused or remove the
    /// certificate), an exclusive selection holds either products or at most one certificate
    /// unit, never both. Refused operations change nothing, and the SKU index stays in step
    /// when a certificate removes the products.
    #[test]
    fn exclusive_selections_never_mix(ops in proptest::collection::vec(op(), 0..40), remove in any::<bool>()) {
        let mut policy = SelectionPolicy::exclusive();
        if remove {
            policy = policy.with_product_with_certificate(ProductWithCertificate::RemoveCertificates);
        }
        let catalogue = catalogue();
        let mut s = Selection::new(Currency::USD, PriceBasis::TaxIncluded, policy);
        let rate = TaxRate::new(Decimal::from(25)).unwrap();
        for op in ops {
            let before = s.clone();
            let result = match op {
                Op::AddProduct(sku, q) => ProductLine::new(
                    &format!("sku-{sku}"), Money::parse("10", Currency::USD).unwrap(), u64::from(q), rate,
                ).map_err(|e| e.to_string()).and_then(|l| s.add_product(l).map(|_| ()).map_err(|e| e.to_string())),
                Op::AddCertificate(fixed, amount) => {
                    let amount = if fixed { None } else { Some(Decimal::from(amount)) };
                    s.add_certificate_from(&catalogue, id(fixed), amount, 1).map(|_| ()).map_err(|e| e.to_string())
                }
                Op::SetProductQuantity(sku, q) => s.set_product_quantity(&format!("sku-{sku}"), u64::from(q)).map(|_| ()).map_err(|e| e.to_string()),
                Op::SetCertificateQuantity(fixed, q) => s.set_certificate_quantity(id(fixed), u64::from(q)).map(|_| ()).map_err(|e| e.to_string()),
                Op::RemoveProduct(sku) => s.remove_product(&format!("sku-{sku}")).map(|_| ()).map_err(|e| e.to_string()),
                Op::RemoveCertificate(fixed) => s.remove_certificate(id(fixed)).map(|_| ()).map_err(|e| e.to_string()),
            };
            if result.is_err() {
                prop_assert_eq!(&s, &before, "a refused operation changed the selection");
            }
            prop_assert!(s.products().is_empty() || s.certificates().is_empty(), "certificate beside a product: {:?}", s);
            prop_assert!(s.certificate_units() <= 1, "two certificates in one selection: {:?}", s);
            // Read back from JSON, the selection builds its SKU index afresh: the same selection.
            let read: Selection = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
            prop_assert_eq!(&read, &s);
        }
    }
}

/// What a mixed selection's product lines should be after `ops`: (SKU, quantity) in the order
/// added, a repeated SKU replacing its line in place, setting a quantity of 0 removing it.
fn model_apply(model: &mut Vec<(String, u64)>, op: &Op) {
    let at = |model: &Vec<(String, u64)>, sku: &str| model.iter().position(|(s, _)| s == sku);
    match *op {
        Op::AddProduct(sku, q) => {
            let sku = format!("sku-{sku}");
            match at(model, &sku) {
                Some(i) => model[i].1 = u64::from(q),
                None => model.push((sku, u64::from(q))),
            }
        }
        Op::SetProductQuantity(sku, q) => {
            if let Some(i) = at(model, &format!("sku-{sku}")) {
                if q == 0 {
                    model.remove(i);
                } else {
                    model[i].1 = u64::from(q);
                }
            }
        }
        Op::RemoveProduct(sku) => {
            if let Some(i) = at(model, &format!("sku-{sku}")) {
                model.remove(i);
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(giftcert_props::config("proptest-regressions/prop_selection.txt"))]

    /// Lines are found by SKU through an index kept beside them: after any sequence of adds,
    /// replacements, quantity changes and removals, the lines are the model's, in its order,
    /// and the selection equals itself read back from JSON (which builds its index afresh).
    #[test]
    fn product_lines_follow_the_model(ops in proptest::collection::vec(
        prop_oneof![
            (0_u8..12, 0_u8..4).prop_map(|(s, q)| Op::AddProduct(s, q)),
            (0_u8..12, 0_u8..4).prop_map(|(s, q)| Op::SetProductQuantity(s, q)),
            (0_u8..12).prop_map(Op::RemoveProduct),
        ],
        0..60,
    )) {
        let mut s = Selection::new(Currency::USD, PriceBasis::TaxIncluded, SelectionPolicy::mixed());
        let mut model = Vec::new();
        for op in &ops {
            let _ = match *op {
                Op::AddProduct(sku, q) => ProductLine::new(
                    &format!("sku-{sku}"), Money::parse("10", Currency::USD).unwrap(), u64::from(q), TaxRate::ZERO,
                ).map_err(|e| e.to_string()).and_then(|l| s.add_product(l).map(|_| ()).map_err(|e| e.to_string())),
                Op::SetProductQuantity(sku, q) => s.set_product_quantity(&format!("sku-{sku}"), u64::from(q)).map(|_| ()).map_err(|e| e.to_string()),
                Op::RemoveProduct(sku) => s.remove_product(&format!("sku-{sku}")).map(|_| ()).map_err(|e| e.to_string()),
                _ => Ok(()),
            };
            model_apply(&mut model, op);
            let lines: Vec<(String, u64)> = s.products().iter().map(|l| (l.sku().to_string(), l.quantity())).collect();
            prop_assert_eq!(&lines, &model);
            let read: Selection = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
            prop_assert_eq!(&read, &s);
        }
    }
}
