//! `POST /build`: what `docker build` sends without BuildKit (a tar of the
//! context in the body, options in the query), built by berth's builder,
//! answered with the legacy builder's JSON stream (`{"stream": …}` lines,
//! `{"aux": {"ID": …}}`, "Successfully built/tagged").

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response};
use image::Reference;
use serde_json::{json, Value};

use crate::http::{ApiError, ApiResult, Body};
use crate::images::{progress_stream, BodyReader};
use crate::router::Ctx;

/// Removes the unpacked context when the build ends, however it ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn json_map(cx: &Ctx, key: &str) -> ApiResult<BTreeMap<String, String>> {
    let Some(raw) = cx.query.get(key).filter(|s| !s.is_empty()) else { return Ok(BTreeMap::new()) };
    let v: BTreeMap<String, Option<String>> =
        serde_json::from_str(raw).map_err(|e| ApiError::bad_request(format!("invalid {key} {raw:?}: {e}")))?;
    // A null build arg means "from the client's environment": the CLI
    // resolves those, so what is left has no value.
    Ok(v.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect())
}

/// The Dockerfile's path inside the context, never outside it.
fn inside(context: &Path, name: &str) -> ApiResult<PathBuf> {
    let rel = Path::new(name);
    if rel.is_absolute() || rel.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(ApiError::bad_request(format!("the Dockerfile {name:?} must be a path inside the build context")));
    }
    Ok(context.join(rel))
}

pub async fn build(cx: &Ctx, req: Request<Incoming>) -> ApiResult<Response<Body>> {
    if let Some(r) = cx.query.get("remote").filter(|s| !s.is_empty()) {
        return Err(ApiError::bad_request(format!(
            "a remote build context ({r}) cannot be fetched: builds here run offline"
        )));
    }
    if let Some(p) = cx.query.get("platform").filter(|s| !s.is_empty()) {
        let want = image::manifest::Platform::parse(p).map_err(ApiError::bad_request)?;
        let host = image::manifest::Platform::host();
        if want.os != host.os || want.architecture != host.architecture {
            return Err(ApiError::bad_request(format!("cannot build for {p}: only the host's platform")));
        }
    }
    let tags: Vec<Reference> = cx
        .query
        .all("t")
        .into_iter()
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().map_err(|e| ApiError::bad_request(format!("invalid tag {t:?}: {e}"))))
        .collect::<ApiResult<_>>()?;
    let build_args = json_map(cx, "buildargs")?;
    let labels = json_map(cx, "labels")?;
    let quiet = cx.query.bool("q")?;
    let no_cache = cx.query.bool("nocache")?;
    let pull = cx.query.bool("pull")?;
    let target = cx.query.get("target").filter(|s| !s.is_empty()).map(str::to_string);
    let network = match cx.query.get("networkmode").filter(|s| !s.is_empty()) {
        None | Some("default" | "bridge") => None,
        Some(n @ ("none" | "host")) => Some(n.to_string()),
        // A user network must exist; refused before the build starts.
        Some(n) => {
            let name = n.to_string();
            let net = cx.st.engine(move |e| Ok(e.network(&name)?)).await?;
            Some(net.name)
        }
    };
    // dockerd reads every `extrahosts` value; each may also list several.
    let extra_hosts: Vec<String> = cx
        .query
        .all("extrahosts")
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect();
    // BuildKit's clients ask for version 2; everyone else gets the
    // classic builder's stream, which docker-py parses.
    let classic = cx.query.get("version") != Some("2");
    let dockerfile_name = cx.query.get("dockerfile").filter(|s| !s.is_empty()).unwrap_or("Dockerfile").to_string();
    let root = cx.st.root.clone();

    // The context, unpacked from the body before anything is answered.
    let dir = root.join("build/tmp").join(format!("ctx-api-{}", engine::names::new_id()));
    std::fs::create_dir_all(&dir).map_err(|e| ApiError::internal(format!("creating {}: {e}", dir.display())))?;
    let scratch = Scratch(dir.clone());
    let handle = tokio::runtime::Handle::current();
    let unpack_dir = dir.clone();
    crate::State::blocking(move || {
        let r = BodyReader { body: req.into_body(), handle, buf: Bytes::new() };
        build::builder::unpack_context(r, &unpack_dir)
            .map_err(|e| ApiError::bad_request(format!("reading the build context: {e}")))
    })
    .await?;
    let dockerfile_path = inside(&dir, &dockerfile_name)?;
    let text = std::fs::read(&dockerfile_path)
        .map_err(|_| ApiError::bad_request(format!("Cannot locate specified Dockerfile: {dockerfile_name}")))?;
    let text = String::from_utf8(text)
        .map_err(|_| ApiError::bad_request(format!("the Dockerfile {dockerfile_name} is not text (not UTF-8)")))?;
    let ignore_text = std::fs::read_to_string(format!("{}.dockerignore", dockerfile_path.display()))
        .or_else(|_| std::fs::read_to_string(dir.join(".dockerignore")))
        .unwrap_or_default();
    let launcher = cx.st.engine(|e| Ok(e.launcher().clone())).await?;

    progress_stream(move |p| {
        let _keep = scratch;
        let tag_names: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        let opts = build::Options {
            context: dir,
            dockerfile: text,
            dockerfile_name,
            tags,
            build_args,
            target,
            no_cache,
            pull,
            labels,
            network,
            extra_hosts,
            progress: if quiet { None } else { Some(Box::new(p.stream_writer())) },
            pull_progress: p,
            registry: Default::default(),
            ignore: build::ignore::Ignore::parse(&ignore_text),
            classic,
        };
        let built = match build::build(&root, launcher, opts) {
            Ok(b) => b,
            // The classic builder's words, and the code docker-py's
            // BuildError carries.
            Err(build::Error::RunFailed { command, code, .. }) if classic => {
                let message = format!("The command '{command}' returned a non-zero code: {code}");
                return Ok(vec![json!({"errorDetail": {"code": code, "message": message}, "error": message})]);
            }
            Err(e) => return Err(ApiError::bad_request(e.to_string())),
        };
        let id = built.record.id.to_string();
        let mut tail: Vec<Value> = Vec::new();
        if classic && !quiet {
            tail.push(json!({ "stream": format!(" ---> {}\n", built.record.id.short()) }));
        }
        tail.push(json!({"aux": {"ID": id}}));
        if quiet {
            tail.push(json!({ "stream": format!("{id}\n") }));
        } else {
            tail.push(json!({ "stream": format!("Successfully built {}\n", built.record.id.short()) }));
            for t in tag_names {
                tail.push(json!({ "stream": format!("Successfully tagged {t}\n") }));
            }
        }
        Ok(tail)
    })
    .await
}
