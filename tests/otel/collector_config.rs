//! `otel-collector.yaml` is wired consistently: OTLP in on 4317 (gRPC) and 4318 (HTTP),
//! `memory_limiter` then `batch`, OTLP out to Jaeger and Tempo at endpoints overridable by
//! environment, and a traces pipeline that uses only components the file defines.

use serde_norway::{Mapping, Value};

fn config() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/otel-collector.yaml");
    let text = std::fs::read_to_string(path).expect("otel-collector.yaml at the repository root");
    serde_norway::from_str(&text).expect("valid YAML")
}

fn section<'a>(config: &'a Value, key: &str) -> &'a Mapping {
    config
        .get(key)
        .and_then(Value::as_mapping)
        .unwrap_or_else(|| panic!("a `{key}` section"))
}

fn names(list: &Value) -> Vec<String> {
    list.as_sequence()
        .expect("a list of component names")
        .iter()
        .map(|v| v.as_str().expect("a name").to_owned())
        .collect()
}

/// The type of a component id: `otlp/jaeger` is an `otlp`.
fn component_type(id: &str) -> &str {
    id.split('/').next().unwrap()
}

#[test]
fn receivers_listen_on_the_otlp_ports() {
    let config = config();
    let otlp = &section(&config, "receivers")[&Value::from("otlp")];
    let endpoint = |protocol: &str| {
        otlp["protocols"][protocol]["endpoint"]
            .as_str()
            .unwrap_or_else(|| panic!("an endpoint for {protocol}"))
            .to_owned()
    };
    assert!(endpoint("grpc").ends_with(":4317"), "{}", endpoint("grpc"));
    assert!(endpoint("http").ends_with(":4318"), "{}", endpoint("http"));
}

#[test]
fn the_traces_pipeline_uses_defined_components() {
    let config = config();
    let service = section(&config, "service");
    let traces = &service[&Value::from("pipelines")]["traces"];
    for (kind, used) in [
        ("receivers", names(&traces["receivers"])),
        ("processors", names(&traces["processors"])),
        ("exporters", names(&traces["exporters"])),
    ] {
        let defined = section(&config, kind);
        assert!(!used.is_empty(), "the pipeline has {kind}");
        for id in &used {
            assert!(
                defined.contains_key(id.as_str()),
                "{kind}: `{id}` is not defined"
            );
        }
        for id in defined.keys() {
            let id = id.as_str().unwrap();
            assert!(
                used.iter().any(|u| u == id),
                "{kind}: `{id}` is defined but not used"
            );
        }
    }
    if let Some(extensions) = service.get("extensions") {
        let defined = section(&config, "extensions");
        for id in names(extensions) {
            assert!(
                defined.contains_key(id.as_str()),
                "extension `{id}` is not defined"
            );
        }
    }

    assert_eq!(names(&traces["receivers"]), ["otlp"]);
    let processors = names(&traces["processors"]);
    assert_eq!(
        processors.first().map(String::as_str),
        Some("memory_limiter"),
        "memory_limiter first"
    );
    assert!(processors.iter().any(|p| component_type(p) == "batch"));
}

#[test]
fn exporters_send_otlp_to_jaeger_and_tempo_at_overridable_endpoints() {
    let config = config();
    let exporters = section(&config, "exporters");
    for (backend, variable) in [("jaeger", "JAEGER_ENDPOINT"), ("tempo", "TEMPO_ENDPOINT")] {
        let (id, exporter) = exporters
            .iter()
            .find(|(id, _)| id.as_str().unwrap().contains(backend))
            .unwrap_or_else(|| panic!("an exporter for {backend}"));
        assert_eq!(
            component_type(id.as_str().unwrap()),
            "otlp",
            "{backend} gets OTLP"
        );
        let endpoint = exporter["endpoint"].as_str().unwrap();
        let prefix = format!("${{env:{variable}:-");
        assert!(
            endpoint.starts_with(&prefix)
                && endpoint.ends_with('}')
                && endpoint.len() > prefix.len() + 1,
            "{backend}: endpoint {endpoint:?} is ${{env:{variable}:-default}}"
        );
    }
}
