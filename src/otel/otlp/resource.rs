//! The resource spans are reported under: `opentelemetry_sdk`'s `Resource::builder()` (which
//! reads `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`), two corrections to it, then the
//! program's overrides.

use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::resource::{EnvResourceDetector, Resource, ResourceDetector};

use super::OtlpConfig;

const SERVICE_NAME: &str = "OTEL_SERVICE_NAME";

pub(super) fn build(config: &OtlpConfig) -> Resource {
    // `service.name` (`OTEL_SERVICE_NAME`, else `OTEL_RESOURCE_ATTRIBUTES`, else
    // `unknown_service:<exe>`), `telemetry.sdk.*`, then `OTEL_RESOURCE_ATTRIBUTES` as is.
    let builder = Resource::builder()
        .with_attributes(env_corrections())
        .with_attributes(
            config
                .resource_attributes
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
        );
    match &config.service_name {
        Some(name) => builder.with_service_name(name.clone()),
        None => builder,
    }
    .build()
}

/// What `Resource::builder()` of `opentelemetry_sdk` 0.33 gets wrong, as attributes to lay over
/// it. Both are rules of the specification's "Specifying resource information via an
/// environment variable":
///
/// - values in `OTEL_RESOURCE_ATTRIBUTES` are percent-encoded (`,` and `=` must be), but the
///   SDK keeps them verbatim: the values of the entries its own detector parsed are decoded
///   here (a value that is not valid percent-encoding stays as is);
/// - `OTEL_SERVICE_NAME` takes precedence over a `service.name` in `OTEL_RESOURCE_ATTRIBUTES`,
///   but the SDK's detector of the latter runs after the one that reads the former and
///   overrides it: the former is applied again here.
fn env_corrections() -> Vec<KeyValue> {
    let mut corrections: Vec<KeyValue> = EnvResourceDetector::new()
        .detect()
        .iter()
        .filter_map(|(key, value)| {
            let Value::String(value) = value else {
                return None;
            };
            let decoded = percent_decode(value.as_str())?;
            (decoded != value.as_str()).then(|| KeyValue::new(key.clone(), decoded))
        })
        .collect();
    if let Some(name) = std::env::var(SERVICE_NAME).ok().filter(|n| !n.is_empty()) {
        corrections.push(KeyValue::new("service.name", name));
    }
    corrections
}

/// `%XX` sequences decoded; `None` if one is malformed or the result is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn percent_decoding() {
        for (text, decoded) in [
            ("plain", "plain"),
            ("x%2Cy%3Dz", "x,y=z"),
            ("%E2%9C%93", "✓"),
        ] {
            assert_eq!(percent_decode(text).as_deref(), Some(decoded), "{text}");
        }
        // A cut escape, one that is not hex, bytes that are not UTF-8.
        for malformed in ["50%", "%zz", "%FF"] {
            assert_eq!(percent_decode(malformed), None, "{malformed}");
        }
    }
}
