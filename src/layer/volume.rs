//! The volume fields of entity spans: `etl.rows_in` and `etl.rows_out` (row counts) and
//! `etl.inputs` and `etl.outputs` (dataset names), given when the span opens or recorded later.
//!
//! A row count is an integer from 0 to `i64::MAX` (what every store keeps exactly; an integral
//! float such as `1200.0` is its integer); anything else — a negative number, a fraction, text,
//! a bool — is not recorded, with a warning. Recording a count again replaces it.
//!
//! Every value given for `etl.inputs` or `etl.outputs` adds datasets, in order and without
//! duplicates: a text is one dataset name, unless it is a JSON array of strings (as
//! `?["a", "b"]` or `serde_json::to_string(&names)` give), which is one name per element.
//! Dataset names are not split at commas: URIs and object keys may contain them.

use crate::record::{push_dataset, Volume};

use super::fields::{Raw, SpanFields, VolumeFields, INPUTS, OUTPUTS, ROWS_IN, ROWS_OUT};

/// The volume given among `values` (taken out of them), `None` when nothing is given; each bad
/// value is left out with a warning.
#[inline]
pub(super) fn take(
    values: &mut SpanFields,
    span_name: &str,
    warnings: &mut Vec<String>,
) -> Option<Volume> {
    let given = values.volume.take()?;
    Some(validate(*given, span_name, warnings))
}

/// The volume `given`, each bad value left out with a warning.
#[inline(never)]
fn validate(given: VolumeFields, span_name: &str, warnings: &mut Vec<String>) -> Volume {
    let mut volume = Volume {
        rows_in: given
            .rows_in
            .and_then(|raw| rows(ROWS_IN, raw, span_name, warnings)),
        rows_out: given
            .rows_out
            .and_then(|raw| rows(ROWS_OUT, raw, span_name, warnings)),
        inputs: Vec::new(),
        outputs: Vec::new(),
    };
    for raw in given.inputs {
        datasets(INPUTS, raw, span_name, &mut volume.inputs, warnings);
    }
    for raw in given.outputs {
        datasets(OUTPUTS, raw, span_name, &mut volume.outputs, warnings);
    }
    volume
}

/// `given` added to `volume`: counts replace those there, datasets add to them.
pub(crate) fn merge(volume: &mut Volume, given: Volume) {
    if given.rows_in.is_some() {
        volume.rows_in = given.rows_in;
    }
    if given.rows_out.is_some() {
        volume.rows_out = given.rows_out;
    }
    for dataset in given.inputs {
        push_dataset(&mut volume.inputs, dataset);
    }
    for dataset in given.outputs {
        push_dataset(&mut volume.outputs, dataset);
    }
}

/// The row count `raw` of field `field`, or `None` with a warning.
fn rows(field: &str, raw: Raw, span_name: &str, warnings: &mut Vec<String>) -> Option<u64> {
    let n = match raw {
        Raw::Int(n) => Some(n),
        Raw::Float(f) if f.fract() == 0.0 && f.abs() < 1e19 => Some(f as i128),
        _ => None,
    };
    let count = n
        .filter(|&n| (0..=i128::from(i64::MAX)).contains(&n))
        .and_then(|n| u64::try_from(n).ok());
    if count.is_none() {
        warnings.push(format!(
            "{field} = {raw} on span `{span_name}` is not a row count (an integer from 0 to {}); \
             it is not recorded",
            i64::MAX
        ));
    }
    count
}

/// The dataset names of `raw` (field `field`) added to `list`, or a warning.
fn datasets(
    field: &str,
    raw: Raw,
    span_name: &str,
    list: &mut Vec<String>,
    warnings: &mut Vec<String>,
) {
    let text = match raw {
        Raw::Text(text) if !text.trim().is_empty() => text,
        Raw::SpanName(name) => name.to_owned(),
        other => {
            warnings.push(format!(
                "{field} = {other} on span `{span_name}` is not a dataset name (non-empty text); \
                 it is not recorded"
            ));
            return;
        }
    };
    if text.trim_start().starts_with('[') {
        if let Ok(names) = serde_json::from_str::<Vec<String>>(&text) {
            let mut named = false;
            for name in names.into_iter().filter(|n| !n.trim().is_empty()) {
                push_dataset(list, name);
                named = true;
            }
            if !named {
                warnings.push(format!(
                    "{field} = {text:?} on span `{span_name}` names no dataset"
                ));
            }
            return;
        }
    }
    push_dataset(list, text);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(fill: impl FnOnce(&mut VolumeFields)) -> (Option<Volume>, Vec<String>) {
        let mut values = SpanFields::new("load");
        let mut given = VolumeFields::default();
        fill(&mut given);
        values.volume = Some(Box::new(given));
        let mut warnings = Vec::new();
        (take(&mut values, "load", &mut warnings), warnings)
    }

    #[test]
    fn nothing_given_is_none() {
        let mut values = SpanFields::new("load");
        assert_eq!(take(&mut values, "load", &mut Vec::new()), None);
    }

    #[test]
    fn counts_are_integers_from_zero() {
        let (v, w) = volume(|f| {
            f.rows_in = Some(Raw::Int(12));
            f.rows_out = Some(Raw::Float(3.0));
        });
        assert_eq!(v.unwrap(), Volume::new().with_rows_in(12).with_rows_out(3));
        assert!(w.is_empty(), "{w:?}");
        for bad in [
            Raw::Int(-1),
            Raw::Float(2.5),
            Raw::Text("12".into()),
            Raw::Bool(true),
            Raw::Int(i128::from(i64::MAX) + 1),
            Raw::Huge(u128::MAX),
        ] {
            let shown = bad.to_string();
            let (v, w) = volume(|f| f.rows_out = Some(bad));
            assert_eq!(v.unwrap().rows_out, None);
            assert_eq!(w.len(), 1, "{w:?}");
            assert!(
                w[0].contains(&format!(
                    "etl.rows_out = {shown} on span `load` is not a row count"
                )),
                "{w:?}"
            );
        }
    }

    #[test]
    fn datasets_add_up_from_names_and_json_arrays() {
        let (v, w) = volume(|f| {
            f.inputs = vec![
                Raw::Text("postgres://dw/sales.orders".into()),
                Raw::Text(r#"["s3://b/a,b.csv", "file:///x"]"#.into()),
                Raw::Text("file:///x".into()),
                Raw::Text("[not json".into()),
            ];
            f.outputs = vec![Raw::Int(3), Raw::Text(" ".into())];
        });
        let v = v.unwrap();
        assert_eq!(
            v.inputs,
            [
                "postgres://dw/sales.orders",
                "s3://b/a,b.csv",
                "file:///x",
                "[not json"
            ]
        );
        assert!(v.outputs.is_empty());
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("etl.outputs = 3 on span `load` is not a dataset name"));
    }

    #[test]
    fn merging_replaces_counts_and_adds_datasets() {
        let mut v = Volume::new().with_rows_in(1).with_input("a");
        merge(
            &mut v,
            Volume::new()
                .with_rows_out(2)
                .with_input("a")
                .with_input("b"),
        );
        merge(&mut v, Volume::new().with_rows_in(5));
        assert_eq!(
            v,
            Volume::new()
                .with_rows_in(5)
                .with_rows_out(2)
                .with_input("a")
                .with_input("b")
        );
    }
}
