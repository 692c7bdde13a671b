"""The OAuth callback checks the browser binding before it uses the state up.

The single-use ``state`` names the connection; the flow cookie set by POST /oauth/start binds it to
the browser that started the flow. A callback without that cookie (whoever opened the link first, a
link scanner, a forged callback) is refused and must leave the state to the user's own browser,
which then connects. Used up it is only then, once: a replay, or the loser of two concurrent
callbacks with the right cookie, is refused and nothing is exchanged twice.
"""
from __future__ import annotations

import threading

from conftest import Api, Browser, browser_consent

TENANT = "tenant-a"
EXPIRED = "expired or was already used"
OTHER_BROWSER = "not started in this browser"


def _create(api: Api, name: str = "Bakery") -> tuple[str, str]:
    status, created = api.call("POST", "/connections", {"vendor": "visma_eaccounting", "name": name})
    assert status == 201, created
    status, started = api.call("POST", f"/connections/{created['connection_id']}/connect")
    assert status == 200, started
    return created["connection_id"], started["connect_url"]


def _status(api: Api, connection_id: str) -> str:
    return api.call("GET", f"/connections/{connection_id}")[1]["status"]


def _signed_in(api: Api, browser: Browser | None = None) -> tuple[str, Browser, dict]:
    """A connection whose user signed in and consented at Visma, the callback not yet delivered."""
    connection_id, connect_url = _create(api)
    browser = browser or Browser()
    params = browser_consent(browser.start(connect_url))
    return connection_id, browser, params


def _assert_connected(api: Api, connection_id: str, status: int, page: str) -> None:
    assert status == 200 and "account connected" in page, page
    assert _status(api, connection_id) == "connected"


def test_a_callback_with_another_flows_or_a_wrong_cookie_leaves_the_state_to_the_right_browser(aws, visma):
    api = Api(TENANT)
    connection_id, user, params = _signed_in(api)
    other = Browser()  # started a flow of its own: it has a flow cookie, for another state
    other.start(_create(api, "Café")[1])
    (user_cookie,) = user.cookies
    forged = Browser()
    forged.cookies = {user_cookie: "a-guessed-nonce"}

    for browser in (other, forged):
        status, page = browser.callback(params)
        assert status == 400 and OTHER_BROWSER in page, page
    assert _status(api, connection_id) == "created"

    _assert_connected(api, connection_id, *user.callback(params))


def test_a_callback_without_the_cookie_leaves_the_state_to_the_right_browser(aws, visma):
    api = Api(TENANT)
    connection_id, user, params = _signed_in(api)
    for _ in range(2):  # e.g. a mail client's link scanner, then the user pasting the link elsewhere
        status, page = Browser().callback(params)
        assert status == 400 and OTHER_BROWSER in page, page
    visma.reset_counts()

    _assert_connected(api, connection_id, *user.callback(params))
    assert visma.request_counts().get("POST /connect/token") == 1


def test_a_replay_after_success_is_still_refused(aws, visma):
    api = Api(TENANT)
    connection_id, user, params = _signed_in(api)
    visma.reset_counts()
    _assert_connected(api, connection_id, *user.callback(params))
    status, page = user.callback(params)
    assert status == 400 and EXPIRED in page, page
    status, page = Browser().callback(params)
    assert status == 400, page
    assert visma.request_counts().get("POST /connect/token") == 1, "the code was exchanged once"


def test_two_concurrent_callbacks_with_the_right_cookie_connect_once(aws, visma, monkeypatch):
    from ledgerbridge.repositories import oauth_states
    from ledgerbridge.services import oauth

    api = Api(TENANT)
    connection_id, user, params = _signed_in(api)
    # Both callbacks read the state (and pass the cookie check) before either uses it up: the
    # narrowest race there is between checking the binding and consuming the state.
    both_read = threading.Barrier(2, timeout=5)
    peek = oauth_states.peek

    def peek_then_wait(key: str):
        record = peek(key)
        try:
            both_read.wait()
        except threading.BrokenBarrierError:
            pass
        return record

    monkeypatch.setattr(oauth_states, "peek", peek_then_wait)
    visma.reset_counts()
    outcomes: list[oauth.CallbackOutcome] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        # The service itself, in two threads: two Lambda containers serving one callback each (one
        # resolver object serves one request at a time, as in a container).
        try:
            outcomes.append(oauth.callback(dict(params), dict(user.cookies)))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and not both_read.broken, errors
    assert sorted((o.ok, o.status_code) for o in outcomes) == [(False, 400), (True, 200)], outcomes
    (refused,) = [o for o in outcomes if not o.ok]
    assert EXPIRED in refused.message
    assert visma.request_counts().get("POST /connect/token") == 1, "the code was exchanged once"
    assert _status(api, connection_id) == "connected"


def test_other_cookies_in_the_browser_do_not_hide_the_flow_cookie(aws, visma):
    api = Api(TENANT)
    user = Browser()
    # Cookies another app on the same domain may have set, sent before ours: a JSON value and a
    # name with brackets, which http.cookies gives up on (dropping every cookie after them).
    user.cookies = {"prefs": '{"theme":"dark"}', "cart[1]": "2"}
    connection_id, user, params = _signed_in(api, user)
    _assert_connected(api, connection_id, *user.callback(params))
