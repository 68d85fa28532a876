//! The OpenAPI 3.1 document, generated from the handlers and their types. It is served at
//! `/api/openapi.json`; `attachd serve --openapi` prints it, and `docs/openapi.json` is that
//! output (a test holds the two together).

use super::error::{ErrorBody, ErrorDetail};
use super::routes;
use super::views::{
    AttachmentView, CompleteRequest, DeletedView, EventView, Link, QuarantinedPage, ReviewRequest,
    ScanView, SignRequest, SignResponse, VariantView,
};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "attachd",
        description = "Sign, complete and read uploads processed by attachd; review quarantined ones.",
    ),
    paths(
        routes::sign,
        routes::complete,
        routes::show,
        routes::events,
        routes::release,
        routes::delete,
        routes::quarantined,
    ),
    components(schemas(
        SignRequest, SignResponse, Link, CompleteRequest, AttachmentView, ScanView,
        VariantView, QuarantinedPage, EventView, ReviewRequest, DeletedView, ErrorBody,
        ErrorDetail,
    )),
    modifiers(&Bearer),
    tags(
        (name = "uploads", description = "The upload flow: scope `upload` (reading also `review`)"),
        (name = "review", description = "Quarantined uploads: scope `review`"),
    )
)]
struct Doc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as pretty JSON, with the crate's version.
pub fn document() -> String {
    let mut doc = Doc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let mut text = doc.to_pretty_json().expect("the document serializes");
    text.push('\n');
    text
}

pub async fn serve_document() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], document()).into_response()
}
