//! The gate every GraphQL document passes before it runs, whatever brought it: a
//! `POST /graphql` body, one request of a JSON batch, or a `subscribe` message on a
//! WebSocket. One set of checks, in one place:
//!
//! - shape: text nesting (before parsing), aliases, NUL characters in arguments or
//!   variables; depth and complexity are the schema's own limits, applied when it runs;
//! - introspection: only for the roles configured (`FORBIDDEN` otherwise);
//! - attempt charging: a document refused for its shape is charged every code check it
//!   carried, so a refused brute-force request still counts towards a lockout;
//! - the caller: its key (role checks happen in the resolvers' guards) and address are
//!   attached to the request, with fresh DataLoaders;
//! - the timeout: a query or mutation is abandoned at the request timeout. A
//!   subscription is long-lived by nature and has none.
//!
//! The transports only authenticate, read bytes and write answers (`router.rs`,
//! `socket.rs`).

use std::net::IpAddr;
use std::sync::Arc;

use async_graphql::Positioned;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection,
};
use async_graphql::{Data, Request, Response, ServerError};
use futures_util::stream::{self, BoxStream, StreamExt as _};

use crate::auth::Caller;
use crate::graphql::error::ApiError;
use crate::graphql::order::SelectionOrder;
use crate::graphql::shape::{MAX_TEXT_NESTING, const_has_nul, nests_deeper_than, shape};
use crate::graphql::{CouponSchema, prepare_request};
use crate::messages::Language;
use crate::router::HttpSettings;
use crate::service::Services;
use crate::service::limiter::Subject;

/// The schema behind its checks. Cheap to clone.
#[derive(Clone)]
pub struct Gate {
    schema: CouponSchema,
    services: Services,
    settings: Arc<HttpSettings>,
    /// Every name the schema defines: a root field is named in the metrics only when it
    /// is one of them, so made-up names never become series.
    names: Arc<std::collections::HashSet<String>>,
}

/// Who sent a document: the authenticated key (none for an anonymous call) and the
/// client's address.
#[derive(Debug, Clone, Default)]
pub struct Visitor {
    /// The caller, once its key is authenticated (with the address below).
    pub caller: Option<Caller>,
    /// The client's address (the TCP peer, or the trusted proxy header).
    pub ip: Option<IpAddr>,
    /// The language its messages are written in (from `Accept-Language`).
    pub language: Language,
}

/// A document that passed the checks, ready to run.
struct Admitted {
    request: Request,
    /// The operation that will run.
    kind: OperationType,
    /// Its first root field, for the metrics.
    root: Option<String>,
    /// The order its answers' fields are written in.
    order: SelectionOrder,
}

impl Gate {
    /// The gate in front of `schema`.
    pub fn new(schema: CouponSchema, services: Services, settings: Arc<HttpSettings>) -> Self {
        Self {
            names: Arc::new(schema.names().into_iter().collect()),
            schema,
            services,
            settings,
        }
    }

    /// The limits it applies.
    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// Runs the requests of one HTTP call (one, or a batch) in order, each through the
    /// checks. Refuses the whole call when the batch is too large (charging its code
    /// checks) or when the call outlives the timeout.
    pub async fn run(
        &self,
        visitor: &Visitor,
        requests: Vec<Request>,
    ) -> Result<Vec<Response>, ApiError> {
        let max_batch = self.settings.max_batch;
        if requests.len() > max_batch {
            let checks: usize = requests.iter().map(|r| code_checks(&r.query)).sum();
            self.charge(visitor, checks);
            return Err(ApiError::BatchTooLarge { max: max_batch });
        }
        let admitted: Vec<_> = requests
            .into_iter()
            .map(|r| self.admit(visitor, r))
            .collect();
        let writes = admitted
            .iter()
            .any(|r| r.as_ref().is_ok_and(|a| a.kind != OperationType::Query));
        let schema = self.schema.clone();
        let metrics = self.services.metrics.clone();
        let work = async move {
            let mut responses = Vec::with_capacity(admitted.len());
            for request in admitted {
                responses.push(match request {
                    Ok(a) => {
                        let started = std::time::Instant::now();
                        let mut response = schema.execute(a.request).await;
                        a.order.apply(&mut response);
                        tag_errors(&mut response);
                        let root = a.root.as_deref().unwrap_or("invalid");
                        metrics.operation(root, outcome_of(&response), started.elapsed());
                        response
                    }
                    Err(e) => Response::from_errors(vec![ServerError::from(&e)]),
                });
            }
            responses
        };
        let mut responses = self.within_timeout(work, writes).await?;
        responses.iter_mut().for_each(tag_errors);
        Ok(responses)
    }

    /// Runs one document that arrived on a WebSocket: a subscription as a stream of
    /// answers, a query or mutation as one answer under the same timeout as over HTTP.
    /// A refused document, or one over the timeout, answers with its error.
    pub fn stream(
        &self,
        visitor: &Visitor,
        request: Request,
        session: Arc<Data>,
    ) -> BoxStream<'static, Response> {
        let admitted = match self.admit(visitor, request) {
            Ok(a) => a,
            Err(e) => return refused(&e),
        };
        let Admitted {
            request,
            kind,
            root: _,
            order,
        } = admitted;
        if kind == OperationType::Subscription {
            return self
                .schema
                .execute_stream_with_session_data(request, session)
                .map(move |mut r| {
                    order.apply(&mut r);
                    tag_errors(&mut r);
                    r
                })
                .boxed();
        }
        let gate = self.clone();
        stream::once(async move {
            let schema = gate.schema.clone();
            let writes = kind == OperationType::Mutation;
            let work = async move { schema.execute(request).await };
            match gate.within_timeout(work, writes).await {
                Ok(mut r) => {
                    order.apply(&mut r);
                    tag_errors(&mut r);
                    r
                }
                Err(e) => Response::from_errors(vec![ServerError::from(&e)]),
            }
        })
        .boxed()
    }

    /// Runs `work` within the request timeout.
    ///
    /// Work that may write runs as a task of its own: at the timeout the caller is
    /// answered, while a transaction under way finishes or rolls back by itself instead
    /// of being cut off halfway (a retry with the same idempotency key then gets its
    /// result). Reads are simply dropped at the timeout, which saves a task and a
    /// wake-up per request.
    async fn within_timeout<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
        writes: bool,
    ) -> Result<T, ApiError> {
        let timeout = self.settings.request_timeout;
        let finished = if writes {
            tokio::time::timeout(timeout, tokio::spawn(work))
                .await
                .map(|joined| joined.map_err(|e| ApiError::internal(&e)))
        } else {
            tokio::time::timeout(timeout, work).await.map(Ok)
        };
        finished.unwrap_or_else(|_| {
            tracing::warn!(?timeout, "request abandoned at its timeout");
            Err(ApiError::Timeout {
                millis: timeout.as_millis(),
            })
        })
    }

    /// Charges `n` failed code checks to the caller (its key and address).
    fn charge(&self, visitor: &Visitor, n: usize) {
        let Some(p) = &visitor.caller else { return };
        if n == 0 {
            return;
        }
        let mut subjects = vec![Subject::Key(p.scope())];
        subjects.extend(visitor.ip.map(Subject::Ip));
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        self.services.limiter.fail(p.role, &subjects, n);
        tracing::warn!(key = %p.key_prefix, ip = ?visitor.ip, checks = n, "refused a document carrying code checks; charged as failures");
    }

    /// Parses one document, refuses it if it is over the limits, and adds what it needs
    /// to run.
    fn admit(&self, visitor: &Visitor, mut request: Request) -> Result<Admitted, ApiError> {
        let settings = &self.settings;
        if nests_deeper_than(&request.query, MAX_TEXT_NESTING) {
            return Err(ApiError::ParseFailed(format!(
                "the document nests deeper than {MAX_TEXT_NESTING} levels"
            )));
        }
        let operation_name = request.operation_name.clone();
        let doc = request
            .parsed_query()
            .map_err(|e| ApiError::ParseFailed(e.message))?;
        let kind = operation_kind(doc, operation_name.as_deref());
        let root = first_root_field(doc, operation_name.as_deref())
            .filter(|name| self.names.contains(*name))
            .map(str::to_owned);
        let order = SelectionOrder::new(doc.clone(), operation_name);
        let shape = shape(doc);
        if shape.nul_text
            || request
                .variables
                .iter()
                .any(|(k, v)| k.contains('\0') || const_has_nul(v))
        {
            return Err(ApiError::BadUserInput(
                "text may not contain NUL characters (U+0000)".into(),
            ));
        }
        if shape.aliases > settings.max_aliases {
            self.charge(visitor, shape.code_checks);
            return Err(ApiError::TooManyAliases {
                max: settings.max_aliases,
            });
        }
        let may_introspect = visitor
            .caller
            .as_ref()
            .is_some_and(|p| settings.introspection.contains(&p.role));
        if !may_introspect {
            if shape.introspection > 0 {
                return Err(ApiError::IntrospectionDisabled);
            }
            request = request.disable_introspection();
        }
        let request = prepare_request(
            request,
            visitor.caller.clone(),
            visitor.language,
            &self.services,
        );
        Ok(Admitted {
            request,
            kind,
            root,
            order,
        })
    }
}

/// The code checks a document carries, as far as it can be read.
fn code_checks(query: &str) -> usize {
    if nests_deeper_than(query, MAX_TEXT_NESTING) {
        return 0;
    }
    async_graphql::parser::parse_query(query).map_or(0, |doc| shape(&doc).code_checks)
}

/// The operation a request will run: the one it names, else the only one.
fn operation<'d>(
    doc: &'d ExecutableDocument,
    name: Option<&str>,
) -> Option<&'d Positioned<OperationDefinition>> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// The kind of the operation a request will run. A document whose operation cannot be
/// told is treated as a query; running it then reports why.
fn operation_kind(doc: &ExecutableDocument, name: Option<&str>) -> OperationType {
    operation(doc, name).map_or(OperationType::Query, |op| op.node.ty)
}

/// The name of the first field the operation selects at its root.
fn first_root_field<'d>(doc: &'d ExecutableDocument, name: Option<&str>) -> Option<&'d str> {
    operation(doc, name)?
        .node
        .selection_set
        .node
        .items
        .iter()
        .find_map(|item| match &item.node {
            Selection::Field(field) => Some(field.node.name.node.as_str()),
            _ => None,
        })
}

/// `ok`, or the code of an answer's first error.
fn outcome_of(response: &Response) -> &str {
    let Some(error) = response.errors.first() else {
        return "ok";
    };
    match error.extensions.as_ref().and_then(|ext| ext.get("code")) {
        Some(async_graphql::Value::String(code)) => code,
        Some(async_graphql::Value::Enum(code)) => code.as_str(),
        _ => "error",
    }
}

/// One answer holding the error that refused a document.
fn refused(e: &ApiError) -> BoxStream<'static, Response> {
    stream::once(std::future::ready(Response::from_errors(vec![
        ServerError::from(e),
    ])))
    .boxed()
}

/// Gives every error async-graphql raised itself (validation, limits) a stable code.
fn tag_errors(response: &mut Response) {
    for error in &mut response.errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|ext| ext.get("code").is_some());
        if has_code {
            continue;
        }
        let code = match error.message.as_str() {
            "Query is nested too deep." => "QUERY_TOO_DEEP",
            "Query is too complex." => "QUERY_TOO_COMPLEX",
            _ => "GRAPHQL_VALIDATION_FAILED",
        };
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
}
