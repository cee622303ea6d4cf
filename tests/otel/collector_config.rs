//! `compose.yaml`, `otel-collector.yaml` and the files they mount are wired consistently:
//! every image pinned to a version; the collector's pipeline uses only components the file
//! defines, with the exporter names current for the pinned collector (`otlp_grpc`, batching
//! in each exporter's sending queue instead of the `batch` processor); every exporter and
//! Grafana data source points at a service compose defines, on a port that service listens
//! on; the collector's receivers are published on the ports the README gives.

use std::collections::BTreeSet;

use serde_norway::{Mapping, Value};

fn read(path: &str) -> Value {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path} is not valid YAML: {e}"))
}

fn config() -> Value {
    read("otel-collector.yaml")
}

fn compose() -> Value {
    read("compose.yaml")
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

/// The type of a component id: `otlp_grpc/jaeger` is an `otlp_grpc`.
fn component_type(id: &str) -> &str {
    id.split('/').next().unwrap()
}

/// The default of a `${env:NAME:-default}` value, or the value itself.
fn env_default(value: &str) -> &str {
    match value
        .strip_prefix("${env:")
        .and_then(|rest| rest.strip_suffix('}'))
    {
        Some(inner) => {
            inner
                .split_once(":-")
                .unwrap_or_else(|| panic!("{value:?} has no default"))
                .1
        }
        None => value,
    }
}

/// `host:port` (or `scheme://host:port/path`) split into host and port.
fn host_port(endpoint: &str) -> (String, u16) {
    let rest = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap();
    let (host, port) = authority
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("{endpoint:?} has no port"));
    (host.to_owned(), port.parse().unwrap())
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose["services"]
        .get(name)
        .unwrap_or_else(|| panic!("compose defines no service `{name}`"))
}

/// The container ports a compose service declares it listens on: its `expose` list and the
/// targets of its `ports`.
fn container_ports(service: &Value) -> BTreeSet<u16> {
    let mut ports = BTreeSet::new();
    for port in service["expose"].as_sequence().into_iter().flatten() {
        ports.insert(port.as_str().unwrap().parse().unwrap());
    }
    for (_, target) in published(service) {
        ports.insert(target);
    }
    ports
}

/// `(published, target)` of each `"host:container"` entry of a service's `ports`.
fn published(service: &Value) -> Vec<(u16, u16)> {
    service["ports"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|entry| {
            let entry = entry.as_str().expect("ports as \"host:container\" strings");
            let (host, container) = entry.split_once(':').expect("host:container");
            (host.parse().unwrap(), container.parse().unwrap())
        })
        .collect()
}

/// The file of the repository a `./path:/in/container[:ro]` volume mounts at `target`, if any.
fn mounted_at<'a>(service: &'a Value, target: &str) -> Option<&'a str> {
    service["volumes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(|volume| {
            let mut parts = volume.split(':');
            let source = parts.next()?;
            (parts.next()? == target).then_some(source)
        })
        .map(|source| source.trim_start_matches("./"))
}

#[test]
fn receivers_listen_on_the_otlp_ports_compose_publishes() {
    let config = config();
    let otlp = &section(&config, "receivers")[&Value::from("otlp")];
    let compose = compose();
    let collector = service(&compose, "otel-collector");
    let published = published(collector);
    for (protocol, port) in [("grpc", 4317), ("http", 4318)] {
        let endpoint = otlp["protocols"][protocol]["endpoint"]
            .as_str()
            .unwrap_or_else(|| panic!("an endpoint for {protocol}"));
        let (host, listens) = host_port(endpoint);
        assert_eq!(
            host, "0.0.0.0",
            "{protocol}: reachable from outside the container"
        );
        assert_eq!(listens, port, "{protocol}");
        assert!(
            published.contains(&(port, port)),
            "compose publishes {port}: {published:?}"
        );
    }
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
    // Being deprecated: the exporters batch in their sending queues.
    assert!(
        !processors.iter().any(|p| component_type(p) == "batch"),
        "{processors:?}"
    );
}

#[test]
fn exporters_send_otlp_grpc_to_the_backends_compose_starts() {
    let config = config();
    let compose = compose();
    let exporters = section(&config, "exporters");
    let mut backends = Vec::new();
    for (backend, variable) in [("jaeger", "JAEGER_ENDPOINT"), ("tempo", "TEMPO_ENDPOINT")] {
        let (id, exporter) = exporters
            .iter()
            .find(|(id, _)| id.as_str().unwrap().ends_with(&format!("/{backend}")))
            .unwrap_or_else(|| panic!("an exporter for {backend}"));
        // `otlp` is the deprecated alias since collector v0.144.
        assert_eq!(
            component_type(id.as_str().unwrap()),
            "otlp_grpc",
            "{backend}"
        );
        assert!(
            exporter["sending_queue"]["batch"].is_mapping(),
            "{backend}: batches in its sending queue"
        );
        let endpoint = exporter["endpoint"].as_str().unwrap();
        assert!(
            endpoint.starts_with(&format!("${{env:{variable}:-")),
            "{backend}: endpoint {endpoint:?} is ${{env:{variable}:-default}}"
        );
        let (host, port) = host_port(env_default(endpoint));
        let target = service(&compose, &host);
        assert!(
            container_ports(target).contains(&port),
            "{backend}: `{host}` does not listen on {port}"
        );
        backends.push(host);
    }
    // Each backend gets the spans once.
    assert_eq!(backends, ["jaeger", "tempo"]);

    // Tempo's own configuration listens where the collector sends.
    let tempo = service(&compose, "tempo");
    let config_file = mounted_at(tempo, "/etc/tempo.yaml").expect("tempo.yaml mounted");
    let tempo_config = read(config_file);
    let (_, port) = host_port(
        tempo_config["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
            .as_str()
            .expect("Tempo's OTLP gRPC receiver"),
    );
    assert!(container_ports(tempo).contains(&port));
    assert!(
        tempo["command"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|arg| arg.as_str() == Some("-config.file=/etc/tempo.yaml")),
        "Tempo reads the mounted file"
    );
}

#[test]
fn compose_mounts_the_collector_config_and_pins_every_image() {
    let compose = compose();
    let collector = service(&compose, "otel-collector");
    assert_eq!(
        mounted_at(collector, "/etc/otelcol-contrib/config.yaml"),
        Some("otel-collector.yaml")
    );
    for (name, service) in compose["services"].as_mapping().unwrap() {
        let image = service["image"].as_str().expect("an image");
        let (_, tag) = image
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("{name:?}: {image} has no tag"));
        assert!(
            tag != "latest" && tag.chars().next().is_some_and(|c| c.is_ascii_digit()),
            "{name:?}: {image} is not pinned to a version"
        );
        for volume in service["volumes"].as_sequence().into_iter().flatten() {
            let source = volume.as_str().unwrap().split(':').next().unwrap();
            if source.starts_with("./") {
                let path = format!("{}/{source}", env!("CARGO_MANIFEST_DIR"));
                assert!(std::path::Path::new(&path).is_file(), "{name:?}: {source}");
            }
        }
        for dependency in service["depends_on"].as_sequence().into_iter().flatten() {
            let dependency = dependency.as_str().unwrap();
            let _ = self::service(&compose, dependency);
        }
    }
    let jaeger = service(&compose, "jaeger")["image"].as_str().unwrap();
    assert!(
        jaeger.starts_with("jaegertracing/jaeger:2."),
        "Jaeger v2: {jaeger}"
    );
}

#[test]
fn grafana_has_its_data_sources_provisioned_at_services_compose_starts() {
    let compose = compose();
    let grafana = service(&compose, "grafana");
    let file = mounted_at(
        grafana,
        "/etc/grafana/provisioning/datasources/tracing-etl.yaml",
    )
    .expect("a data source provisioning file");
    let provisioning = read(file);
    let sources = provisioning["datasources"].as_sequence().unwrap();
    let tempo = sources
        .iter()
        .find(|s| s["type"].as_str() == Some("tempo"))
        .expect("a Tempo data source");
    assert_eq!(tempo["isDefault"].as_bool(), Some(true));
    let tempo_config = read(mounted_at(service(&compose, "tempo"), "/etc/tempo.yaml").unwrap());
    for source in sources {
        let url = source["url"].as_str().unwrap();
        let (host, port) = host_port(url);
        assert!(
            container_ports(service(&compose, &host)).contains(&port),
            "{url}: `{host}` does not listen on {port}"
        );
        if host == "tempo" {
            assert_eq!(
                tempo_config["server"]["http_listen_port"].as_u64(),
                Some(u64::from(port))
            );
        }
    }
}
