//! Sessions: the exec history (who ran a script, where, when, how it went, how long), filtered
//! by caller and connection. Admins see everyone's, others their own: the service decides.

use crate::{
    components::{FilterField, Time},
    pages::{audit::Pager, layout::use_me},
    server_fns::list_sessions,
    types::{SessionFilter, SessionView},
};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// A URL of this page with these filters; blank ones are left out.
pub fn sessions_href(filter: &SessionFilter) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("caller", &filter.caller),
        ("connection", &filter.connection),
        ("before", &filter.before),
    ] {
        if let Some(v) = value.as_ref().filter(|v| !v.trim().is_empty()) {
            query.append_pair(name, v);
        }
    }
    let query = query.finish();
    if query.is_empty() {
        "/sessions".into()
    } else {
        format!("/sessions?{query}")
    }
}

/// 45 ms, 1.2 s, 3 min 5 s.
pub fn duration(ms: i64) -> String {
    match ms {
        ..1000 => format!("{} ms", ms.max(0)),
        1000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
    }
}

#[component]
pub fn SessionsListPage() -> impl IntoView {
    let is_admin = use_me().is_admin;
    let query = use_query_map();
    let filter = move || {
        let q = query.read();
        let text = |name: &str| q.get(name).filter(|v| !v.trim().is_empty());
        SessionFilter {
            caller: text("caller"),
            connection: text("connection"),
            before: text("before"),
        }
    };
    let page = Resource::new(filter, |f| list_sessions(f.caller, f.connection, f.before));
    view! {
        <header class="page-header">
            <div>
                <h1>"Sessions"</h1>
                <p class="muted">
                    {if is_admin {
                        "Every script run through the gateway, newest first."
                    } else {
                        "The scripts you ran through the gateway, newest first."
                    }}
                </p>
            </div>
        </header>
        // Drawn again when the URL changes: a link (Clear, a key's sessions) updates the
        // fields along with the list.
        {move || {
            let current = filter();
            let filtered = current.narrows();
            view! {
                <form method="get" action="/sessions" class="filters panel" role="search"
                    aria-label="Filter the sessions">
                    <FilterField name="caller" label="Caller"
                        hint="An email, a key's name or a key's id" value=current.caller.clone()/>
                    <FilterField name="connection" label="Connection" hint="Its name"
                        value=current.connection.clone()/>
                    <div class="filter-actions">
                        <button type="submit" class="button primary">"Filter"</button>
                        {filtered.then(|| view! { <a href="/sessions" class="button">"Clear"</a> })}
                    </div>
                </form>
            }
        }}
        <Suspense fallback=|| view! { <p class="loading">"Loading sessions…"</p> }>
            {move || Suspend::new(async move {
                let current = filter();
                let filtered = current.narrows();
                match page.await {
                    Ok(page) if page.sessions.is_empty() => view! {
                        <section class="panel empty">
                            <h2>"No sessions"</h2>
                            <p>{if current.before.is_some() {
                                "There are no older sessions."
                            } else if filtered {
                                "No session matches these filters."
                            } else {
                                "Scripts run with hoop exec, the REST API or MCP show here."
                            }}</p>
                        </section>
                    }.into_any(),
                    Ok(page) => {
                        let newest = current.before.as_ref().map(|_| sessions_href(&SessionFilter {
                            before: None,
                            ..current.clone()
                        }));
                        let older = page.older.map(|before| sessions_href(&SessionFilter {
                            before: Some(before),
                            ..current.clone()
                        }));
                        view! {
                            <SessionTable sessions=page.sessions/>
                            <Pager newest older/>
                        }.into_any()
                    }
                    Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn SessionTable(sessions: Vec<SessionView>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data sessions">
                <thead>
                    <tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"Who"</th>
                        <th scope="col">"Connection"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Duration"</th>
                    </tr>
                </thead>
                <tbody>
                    {sessions.into_iter().map(|s| {
                        let how = match s.auth_method.as_str() {
                            "api_key" => "API key",
                            "user_token" => "user token",
                            "session" => "web login",
                            "legacy_api_key" => "legacy key",
                            other => other,
                        }.to_owned();
                        view! {
                            <tr data-session=s.id>
                                <td data-label="When" class="nowrap"><Time when=s.at/></td>
                                <td data-label="Who" class="wrap-anywhere">
                                    {s.actor} <div class="muted small">{how}</div>
                                </td>
                                <td data-label="Connection">{s.connection}</td>
                                <td data-label="Status">
                                    {if s.succeeded {
                                        view! { <span class="badge badge-active">"Succeeded"</span> }.into_any()
                                    } else if let Some(reason) = s.cancelled.clone() {
                                        view! {
                                            <span class="badge badge-inactive">"Cancelled"</span>
                                            <div class="muted small">{reason}</div>
                                        }.into_any()
                                    } else {
                                        view! {
                                            <span class="badge badge-inactive">"Failed"</span>
                                            <span class="muted small">" exit " {s.exit_code}</span>
                                        }.into_any()
                                    }}
                                </td>
                                <td data-label="Duration" class="nowrap">{duration(s.duration_ms)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(45), "45 ms");
        assert_eq!(duration(1234), "1.2 s");
        assert_eq!(duration(185_000), "3 min 5 s");
    }

    #[test]
    fn links_carry_only_the_filters_given() {
        assert_eq!(sessions_href(&SessionFilter::default()), "/sessions");
        assert_eq!(
            sessions_href(&SessionFilter {
                caller: Some("k 1".into()),
                ..Default::default()
            }),
            "/sessions?caller=k+1"
        );
    }
}
