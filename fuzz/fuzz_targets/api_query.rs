//! The API's inputs: `filters` query JSON keeps exactly the strings it lists, image filters read from it never panic, and a container-create body becomes a request for the image it names with its mounts checked.
#![no_main]

use berth_api::{create_request, filters};
use berth_engine::container::mounts::MountRequest;
use berth_engine::image::filter::ImageFilters;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::collections::HashMap;

/// The input's NUL-separated parts, so that seeds are plain text: a raw query string, a
/// `filters` value, a create body, a container name (empty: none), then `repo:tag` names to
/// match, one a line.
struct Input<'a> {
    query: &'a str,
    filters: &'a str,
    body: &'a [u8],
    name: Option<String>,
    names: Vec<(&'a str, &'a str)>,
}

impl<'a> Input<'a> {
    fn split(data: &'a [u8]) -> Input<'a> {
        let mut parts = data.splitn(5, |b| *b == 0);
        let mut next = || parts.next().unwrap_or_default();
        let text = |b: &'a [u8]| std::str::from_utf8(b).unwrap_or_default();
        let query = text(next());
        let filters = text(next());
        let body = next();
        let name = Some(text(next()))
            .filter(|n| !n.is_empty())
            .map(String::from);
        let names = text(next())
            .lines()
            .map(|l| l.rsplit_once(':').unwrap_or((l, "latest")))
            .collect();
        Input {
            query,
            filters,
            body,
            name,
            names,
        }
    }
}

fn check_filters(q: &HashMap<String, String>, names: &[(&str, &str)]) {
    let Ok(map) = filters(q) else {
        assert!(serde_json::from_str::<Value>(&q["filters"]).is_err());
        return;
    };
    if let Some(Value::Object(o)) = q.get("filters").and_then(|r| serde_json::from_str(r).ok()) {
        for (k, vals) in &o {
            let want: Vec<String> = match vals {
                Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect(),
                Value::Object(m) => m.keys().cloned().collect(),
                _ => vec![],
            };
            assert_eq!(map.get(k), Some(&want), "{k:?}");
        }
        assert_eq!(map.len(), o.len());
    }
    let pairs: Vec<(String, String)> = map
        .into_iter()
        .flat_map(|(k, vs)| vs.into_iter().map(move |v| (k.clone(), v)))
        .collect();
    if let Ok(f) = ImageFilters::parse(&pairs, |_| Ok("2024-01-02T03:04:05Z".to_string())) {
        for (repo, tag) in names.iter().take(8) {
            let _ = f.keep_name(repo, tag);
        }
        let _ = f.keep_image(true, "2024-01-01T00:00:00Z", &Default::default());
    }
}

fuzz_target!(|data: &[u8]| {
    let input = Input::split(data);
    let mut q: HashMap<String, String> = form_urlencoded::parse(input.query.as_bytes())
        .into_owned()
        .collect();
    check_filters(&q, &input.names);
    q.insert("filters".into(), input.filters.to_string());
    check_filters(&q, &input.names);

    let Ok(req) = create_request(input.body, input.name.clone()) else {
        return;
    };
    let v: Value = if input.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(input.body).expect("a body that created a request is JSON")
    };
    assert!(!req.image.is_empty());
    assert_eq!(v["Image"].as_str(), Some(req.image.as_str()));
    assert_eq!(req.name, input.name);
    let asked = v["HostConfig"]["Mounts"].as_array().map_or(0, Vec::len);
    assert_eq!(req.mounts.len(), asked);
    for m in &req.mounts {
        let d = m.destination();
        assert!(d.starts_with('/') && d != "/", "destination {d:?}");
        if let MountRequest::Bind { source, .. } = m {
            assert!(source.starts_with('/'), "bind source {source:?}");
        }
    }
});
