//! Settings → API Keys: the list, with deactivate (confirmed in a dialog) and activate in place.

use crate::{
    components::{action_error, Forbidden, FormError, StatusBadge, Time},
    pages::layout::use_me,
    server_fns::{get_key, list_keys, ActivateKey, DeactivateKey},
    types::KeyView,
};
use leptos::{html, prelude::*};
use leptos_router::{components::A, hooks::use_params_map};

#[component]
pub fn KeysPage() -> impl IntoView {
    if !use_me().is_admin {
        return view! { <Forbidden/> }.into_any();
    }
    let deactivate = ServerAction::<DeactivateKey>::new();
    let activate = ServerAction::<ActivateKey>::new();
    let keys = Resource::new(
        move || (deactivate.version().get(), activate.version().get()),
        |_| list_keys(),
    );
    // The key waiting for confirmation in the dialog.
    let confirming = RwSignal::new(None::<KeyView>);
    let dialog = NodeRef::<html::Dialog>::new();
    Effect::new(move |_| {
        if deactivate.version().get() > 0 {
            if let Some(d) = dialog.get_untracked() {
                d.close();
            }
        }
    });
    let ask = move |key: KeyView| {
        confirming.set(Some(key));
        if let Some(d) = dialog.get_untracked() {
            let _ = d.show_modal();
        }
    };
    view! {
        <header class="page-header">
            <div>
                <h1>"API keys"</h1>
                <p class="muted">"Keys let automation and AI agents call the gateway as themselves."</p>
            </div>
            <A href="/settings/api-keys/new" attr:class="button primary">"Create new API key"</A>
        </header>
        <FormError error=action_error(activate)/>
        <Transition fallback=|| view! { <p class="loading">"Loading keys…"</p> }>
            {move || Suspend::new(async move {
                match keys.await {
                    Ok(keys) if keys.is_empty() => view! { <EmptyState/> }.into_any(),
                    Ok(keys) => view! { <KeyTable keys activate ask/> }.into_any(),
                    Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
        <dialog node_ref=dialog class="dialog" aria-labelledby="confirm-title">
            {move || confirming.get().map(|key| view! {
                <ConfirmDeactivate key action=deactivate on_cancel=move || {
                    if let Some(d) = dialog.get_untracked() { d.close(); }
                } cancel_href=None/>
            })}
        </dialog>
    }
    .into_any()
}

#[component]
fn EmptyState() -> impl IntoView {
    view! {
        <section class="panel empty">
            <h2>"No API keys yet"</h2>
            <p>
                "An API key lets a script, a CI job or an AI agent call the gateway without a "
                "browser login, with only the access of the groups you give it. You see the key "
                "once, when you create it."
            </p>
            <A href="/settings/api-keys/new" attr:class="button primary">"Create new API key"</A>
        </section>
    }
}

#[component]
fn KeyTable(
    keys: Vec<KeyView>,
    activate: ServerAction<ActivateKey>,
    ask: impl Fn(KeyView) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="keys">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Key"</th>
                        <th scope="col">"Groups"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Last used"</th>
                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {keys.into_iter().map(|key| view! { <KeyRow key activate ask/> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn KeyRow(
    key: KeyView,
    activate: ServerAction<ActivateKey>,
    ask: impl Fn(KeyView) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let configure = format!("/settings/api-keys/{}/configure", key.id);
    let confirm_page = format!("/settings/api-keys/{}/deactivate", key.id);
    let for_dialog = key.clone();
    view! {
        <tr data-key=key.name.clone()>
            <th scope="row" class="name" data-label="Name">{key.name.clone()}</th>
            <td data-label="Key"><code class="masked">{key.masked_key.clone()}</code></td>
            <td data-label="Groups">
                {key.groups.iter().map(|g| view! { <span class="chip">{g.clone()}</span> }).collect_view()}
            </td>
            <td data-label="Status">
                <StatusBadge active=key.active/>
                {key.deactivated_at.clone().map(|at| view! {
                    <div class="muted small">
                        "by " {key.deactivated_by.clone().unwrap_or_default()} ", " <Time when=at/>
                    </div>
                })}
            </td>
            <td data-label="Created">
                <Time when=key.created_at.clone()/>
                <div class="muted small">"by " {key.created_by.clone()}</div>
            </td>
            <td data-label="Last used">
                {match key.last_used_at.clone() {
                    Some(at) => view! { <Time when=at/> }.into_any(),
                    None => view! { <span class="muted">"Never"</span> }.into_any(),
                }}
            </td>
            <td class="actions">
                <details class="menu">
                    <summary aria-label=format!("Actions for {}", key.name)>"Actions"</summary>
                    <div class="menu-items">
                        <a href=configure>"Configure"</a>
                        {if key.active {
                            view! {
                                <a href=confirm_page class="danger" on:click=move |ev| {
                                    // With JavaScript, confirm in a dialog; without, the link
                                    // leads to a confirmation page.
                                    ev.prevent_default();
                                    close_menu(&ev);
                                    ask(for_dialog.clone());
                                }>"Deactivate API key"</a>
                            }.into_any()
                        } else {
                            view! {
                                <ActionForm action=activate>
                                    <input type="hidden" name="id" value=key.id.clone()/>
                                    <button type="submit" class="menu-button">"Activate API key"</button>
                                </ActionForm>
                            }.into_any()
                        }}
                    </div>
                </details>
            </td>
        </tr>
    }
}

/// Closes the `<details>` menu the event came from.
fn close_menu(ev: &leptos::ev::MouseEvent) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let menu = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|el| el.closest("details").ok().flatten());
        if let Some(menu) = menu {
            let _ = menu.remove_attribute("open");
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = ev;
}

#[component]
fn ConfirmDeactivate(
    key: KeyView,
    action: ServerAction<DeactivateKey>,
    on_cancel: impl Fn() + Send + Sync + 'static,
    /// Where Cancel leads when there is no dialog to close (the page without JavaScript).
    cancel_href: Option<&'static str>,
) -> impl IntoView {
    let cancel = match cancel_href {
        Some(href) => view! { <a href=href class="button">"Cancel"</a> }.into_any(),
        None => view! {
            <button type="button" class="button" on:click=move |_| on_cancel()>"Cancel"</button>
        }
        .into_any(),
    };
    view! {
        <h2 id="confirm-title">"Deactivate " {key.name.clone()} "?"</h2>
        <p>
            "Requests with this key are refused from the next one on. You can activate it again "
            "later; the same secret will work."
        </p>
        <FormError error=action_error(action)/>
        <ActionForm action attr:class="dialog-actions">
            <input type="hidden" name="id" value=key.id.clone()/>
            {cancel}
            <button type="submit" class="button danger" autofocus>"Deactivate API key"</button>
        </ActionForm>
    }
}

/// The confirmation as a page of its own, for browsers without JavaScript.
#[component]
pub fn DeactivatePage() -> impl IntoView {
    if !use_me().is_admin {
        return view! { <Forbidden/> }.into_any();
    }
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let key = Resource::new(id, get_key);
    let deactivate = ServerAction::<DeactivateKey>::new();
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match key.await {
                    Ok(key) => view! {
                        <section class="panel narrow">
                            <ConfirmDeactivate key action=deactivate on_cancel=|| {}
                                cancel_href=Some("/settings/api-keys")/>
                        </section>
                    }.into_any(),
                    Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
    .into_any()
}
