//! The MCP tools: each a thin call into the service its REST route calls, with the caller the
//! middleware authenticated for this very HTTP request (never one kept in the MCP session).
//! A refusal or a failed script is a tool result with `isError` (the model reads it and can
//! act on it), not a protocol error.

use crate::{
    caller::Principal,
    connections::{ExecResult, SessionStatus},
    error::Error,
    state::AppState,
    wire::keys::Activation,
};
use rmcp::{
    handler::server::{router::tool::ToolRouter, tool::ToolCallContext, wrapper::Parameters},
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
        ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
    },
    service::RequestContext,
    tool, tool_router, ErrorData, RoleServer, ServerHandler,
};
use serde::{Deserialize, Serialize};

/// An agent's list of runs, unless it asks for more: enough to find its last ones without
/// filling its context.
const AGENT_SESSIONS: i64 = 50;

/// Tools only the admin group may use: hidden from everyone else's `tools/list`, and refused
/// by the key service if called anyway.
const ADMIN_TOOLS: [&str; 4] = [
    "list_api_keys",
    "api_key_usage",
    "deactivate_api_key",
    "activate_api_key",
];

#[derive(Clone)]
pub struct Tools {
    state: AppState,
    router: ToolRouter<Self>,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct ExecArgs {
    /// The connection's name, as `list_connections` gives it. Example: "demo".
    pub connection: String,
    /// The script to run, in the connection's SQL dialect. Example: "SELECT * FROM customers LIMIT 10".
    pub script: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct ConnectionArg {
    /// The connection's name, as `list_connections` gives it. Example: "demo".
    pub connection: String,
}

#[derive(Deserialize, schemars::JsonSchema, Default)]
pub struct SessionsArgs {
    /// Only runs by this caller: an email, a key's name or a key's id. Example: "ai-agent-sre".
    pub caller: Option<String>,
    /// Only runs on this connection. Example: "demo".
    pub connection: Option<String>,
    /// How many, newest first (1 to 500; default 50).
    pub limit: Option<i64>,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct SessionArg {
    /// The session id an exec answered with (`session_id`). Example: "0f8e…-…".
    pub id: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct KeyArg {
    /// The key's name or id, as `list_api_keys` gives them. Example: "ai-agent-sre".
    pub name_or_id: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct ActivateArgs {
    /// The key's name or id, as `list_api_keys` gives them. Example: "ai-agent-sre".
    pub name_or_id: String,
    /// Bring back a secret reported leaked (leak_reported_at set). Default false.
    #[serde(default)]
    pub accept_reported_secret: bool,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct UsageArgs {
    /// The key's name or id, as `list_api_keys` gives them. Example: "ai-agent-sre".
    pub name_or_id: String,
    /// How many days, ending today (UTC), 1 to 365. Default 30. Example: 7.
    pub days: Option<u32>,
}

/// The caller of this HTTP request, put there by the middleware in front of the service.
fn caller(ctx: &RequestContext<RoleServer>) -> Result<Principal, ErrorData> {
    ctx.extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Principal>())
        .cloned()
        .ok_or_else(|| ErrorData::internal_error("no authenticated caller", None))
}

/// A service refusal as the model reads it: the message REST would send in its body.
fn refusal(e: Error) -> CallToolResult {
    e.report();
    let text = match &e {
        Error::Busy(m) => format!("{m} (try again in a second)"),
        other => other.to_string(),
    };
    CallToolResult::error(vec![ContentBlock::text(text)])
}

/// A structured result whose text block is the JSON too (what clients before structured
/// content read).
fn structured(value: impl Serialize) -> CallToolResult {
    match serde_json::to_value(value) {
        Ok(value) => CallToolResult::structured(value),
        Err(e) => refusal(Error::Internal(e.into())),
    }
}

/// The TSV first, for the model to read; the rest alongside, as REST sends it.
fn exec_result(result: ExecResult) -> CallToolResult {
    let failed = result.output_status != SessionStatus::Success;
    let text = if failed {
        format!("the script failed: {}", result.output)
    } else {
        result.output.clone()
    };
    let mut answer = match serde_json::to_value(&result) {
        Ok(value) if failed => CallToolResult::structured_error(value),
        Ok(value) => CallToolResult::structured(value),
        Err(e) => return refusal(Error::Internal(e.into())),
    };
    answer.content = vec![ContentBlock::text(text)];
    answer
}

fn answer<T: Serialize>(result: crate::error::Result<T>) -> CallToolResult {
    result.map_or_else(refusal, structured)
}

#[tool_router]
impl Tools {
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            router: Self::tool_router(),
        }
    }

    #[tool(
        description = "Who you are on this gateway: name, groups, whether you are an admin, and how you authenticated (api_key or user_token). Takes no arguments.",
        annotations(read_only_hint = true)
    )]
    async fn whoami(&self, ctx: RequestContext<RoleServer>) -> Result<CallToolResult, ErrorData> {
        let me = caller(&ctx)?;
        Ok(structured(crate::api::userinfo(me).await.0))
    }

    #[tool(
        description = "The database connections you may run scripts on: name, type (sqlite or postgres), the groups that reach it. Admins also see each target. Use a name from here with exec and describe_schema. Takes no arguments.",
        annotations(read_only_hint = true)
    )]
    async fn list_connections(
        &self,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let me = caller(&ctx)?;
        let listed = self.state.connections.list(&me).await;
        Ok(answer(listed.map(
            |connections| serde_json::json!({ "connections": connections }),
        )))
    }

    #[tool(
        description = "Runs a SQL script on a connection as you, and records it in your session history. Answers the output as tab-separated text with a header row (NULL for nulls), plus session_id, output_status, exit_code and execution_time_ms. Refused (as an error result) when the connection is not one of yours, the script fails, or you have too many scripts running. Output is cut at the gateway's row and byte limits and scripts at its timeout. Example: {\"connection\": \"demo\", \"script\": \"SELECT id, name FROM customers LIMIT 5\"}"
    )]
    async fn exec(
        &self,
        Parameters(args): Parameters<ExecArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let me = caller(&ctx)?;
        let run = self
            .state
            .connections
            .exec(&me, &args.connection, &args.script)
            .await;
        Ok(run.map_or_else(refusal, exec_result))
    }

    #[tool(
        description = "The tables (and views) of a connection and their columns, as tab-separated text: table, column, type (PostgreSQL tables as schema.table). Use it before writing a query instead of guessing names. Runs as an exec under your identity and is recorded in your session history. Example: {\"connection\": \"demo\"}",
        annotations(read_only_hint = true)
    )]
    async fn describe_schema(
        &self,
        Parameters(args): Parameters<ConnectionArg>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let me = caller(&ctx)?;
        let run = self
            .state
            .connections
            .describe_schema(&me, &args.connection)
            .await;
        Ok(run.map_or_else(refusal, exec_result))
    }

    #[tool(
        description = "Your recorded script runs, newest first (admins: everyone's): id, actor, connection, script, status, exit_code, execution_time_ms, created_at. The output of a run is not kept. Optional filters: caller, connection, limit (default 50). Example: {\"connection\": \"demo\", \"limit\": 10}",
        annotations(read_only_hint = true)
    )]
    async fn list_sessions(
        &self,
        Parameters(args): Parameters<SessionsArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let me = caller(&ctx)?;
        let query = crate::wire::sessions::SessionQuery {
            caller: args.caller,
            connection: args.connection,
            limit: Some(args.limit.unwrap_or(AGENT_SESSIONS)),
            before: None,
        };
        let rows = self.state.connections.sessions(&me, &query).await;
        Ok(answer(rows.map(
            |sessions| serde_json::json!({ "sessions": sessions }),
        )))
    }

    #[tool(
        description = "One recorded script run by its id (yours; admins: anyone's). Example: {\"id\": \"<session_id from exec>\"}",
        annotations(read_only_hint = true)
    )]
    async fn get_session(
        &self,
        Parameters(args): Parameters<SessionArg>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let me = caller(&ctx)?;
        let row = self.state.connections.session(&me, &args.id).await;
        Ok(answer(row))
    }

    #[tool(
        description = "Admins only: every API key of the organization, with name, groups, masked preview, whether it is active, and when it was last used. Never a key's secret. Takes no arguments.",
        annotations(read_only_hint = true)
    )]
    async fn list_api_keys(
        &self,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let me = caller(&ctx)?;
        let keys = self.state.keys.list(&me).await;
        Ok(answer(
            keys.map(|keys| serde_json::json!({ "api_keys": keys })),
        ))
    }

    #[tool(
        description = "Admins only: how much an API key was used per UTC day, oldest first, zeros included: requests served, requests refused because it was deactivated or expired (something still holds a retired key), and execs. Where it is used from is in list_api_keys (last_used_ip, recent_clients). Example: {\"name_or_id\": \"payments-automation\", \"days\": 7}",
        annotations(read_only_hint = true)
    )]
    async fn api_key_usage(
        &self,
        Parameters(args): Parameters<UsageArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let me = caller(&ctx)?;
        let days = args.days.unwrap_or(30);
        let usage = self.state.keys.usage(&me, &args.name_or_id, days).await;
        Ok(answer(
            usage.map(|days| serde_json::json!({ "days": days })),
        ))
    }

    #[tool(
        description = "Admins only: deactivates an API key by name or id. Every request with it is refused from the next one on, until activate_api_key. Audited under your name. Example: {\"name_or_id\": \"payments-automation\"}",
        annotations(destructive_hint = true, idempotent_hint = true)
    )]
    async fn deactivate_api_key(
        &self,
        Parameters(args): Parameters<KeyArg>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let me = caller(&ctx)?;
        Ok(answer(
            self.state.keys.deactivate(&me, &args.name_or_id).await,
        ))
    }

    #[tool(
        description = "Admins only: activates a deactivated API key by name or id; its same secret works again. A key whose secret was reported leaked (leak_reported_at) is refused unless accept_reported_secret is true: rotating it first is the better way. Audited under your name. Example: {\"name_or_id\": \"payments-automation\"}",
        annotations(idempotent_hint = true)
    )]
    async fn activate_api_key(
        &self,
        Parameters(args): Parameters<ActivateArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let me = caller(&ctx)?;
        let activation = Activation {
            expires_at: None,
            accept_reported_secret: args.accept_reported_secret,
        };
        Ok(answer(
            self.state
                .keys
                .activate(&me, &args.name_or_id, activation)
                .await,
        ))
    }
}

impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("hoop", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "hoop is an access gateway to databases. Start with whoami and \
                 list_connections, call describe_schema on a connection, then exec a query. \
                 Everything runs as the API key you connected with and is recorded.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let admin = caller(&ctx)?.is_admin();
        let tools = self
            .router
            .list_all()
            .into_iter()
            .filter(|t| admin || !ADMIN_TOOLS.contains(&t.name.as_ref()))
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.router
            .call(ToolCallContext::new(self, request, ctx))
            .await
    }

    fn get_tool(&self, name: &str) -> Option<rmcp::model::Tool> {
        self.router.get(name).cloned()
    }
}
