"""The console in a real browser: headless Chromium (Debian's, driven by Playwright) against `make run`'s
stack in a subprocess. A shop owner signs in with a link, creates and connects a Visma eAccounting
connection through the simulator's consent page, maps accounts from drop-downs, meets a refusal, has a
settlement booked and a failed one replayed; an accounting office stores its 24SevenOffice integration
user and sees the vendor's answer. Screenshots of the main pages: `make screenshots` (docs/console/)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from devstack import samples
from devstack.stack import TFSO_USER
from tests.e2e.ports import stack_free_ports

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("LB_CHROMIUM", "/usr/bin/chromium")
# Screenshots go to a temporary folder, or with `make screenshots` (LB_SCREENSHOTS) to docs/console for the
# README: a test run leaves the checkout as it was.
SHOTS = Path(os.environ.get("LB_SCREENSHOTS") or Path(os.environ.get("TMPDIR", "/tmp")) / "ledgerbridge-console")
# Flags for a closed network: no calls home, no first-run pages (the machine's Chromium, run as root in CI).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                                  reason=f"no Chromium at {CHROMIUM} (.ci/run installs Debian's)")]


@pytest.fixture(scope="module")
def stack():
    """`python -m devstack run` in a subprocess: its URL, console sign-in links and tenant keys from its output."""
    port = stack_free_ports()
    env = dict(os.environ, LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "-m", "devstack", "run", "--port", str(port), "--schedule-interval",
                                "3600"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Ctrl-C stops it."):
            break
    output = "".join(lines)
    assert "ledgerbridge local stack is up" in output, output[-4000:]
    # Keep draining its output: an unread pipe would block the stack once it fills.
    import threading

    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
    links = dict(re.findall(r"^  (local-\w+)\s+(http://\S+/console/sign-in\?token=\S+)$", output, re.M))
    keys = dict(re.findall(r"^  export (LB_KEY\d?)=(lbk_\S+)$", output, re.M))
    yield {"url": f"http://127.0.0.1:{port}", "links": links, "keys": keys}
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def wait_for_text(page, text: str, seconds: float = 90) -> None:
    """Reload until ``text`` is on the page (the worker books in the background)."""
    wait_until(page, lambda: text in page.content(), f"{text!r} did not appear", seconds)


def wait_until(page, done, what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"{what} on {page.url}"
        time.sleep(1)
        page.reload()


def fresh_link(stack, key_name: str) -> str:
    """A new one-time link made with the tenant key (each link signs in once)."""
    answer = httpx.post(f"{stack['url']}/console/sign-in-links",
                        headers={"Authorization": f"Bearer {stack['keys'][key_name]}"}, timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.json()["sign_in_url"]


def sign_in(browser, link: str):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.goto(link)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/connections")
    return context, page


def test_a_shop_connects_visma_maps_accounts_and_sees_its_settlements_booked(stack, browser):
    context, page = sign_in(browser, stack["links"]["local-tenant"])
    # The session cookie is HttpOnly and SameSite: no script on the page can read it.
    cookie = next(c for c in context.cookies() if c["name"] == "lb_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie") == ""

    page.get_by_label("Accounting system").select_option(label="Visma eAccounting")
    page.get_by_label("Name").fill("Bakeriet")
    page.get_by_role("button", name="Create").click()
    page.get_by_text("Connection created").wait_for()
    connection_url = page.url.split("?")[0]
    connection_id = connection_url.rsplit("/", 1)[1]

    # Connect: the hub's confirmation, then the simulator's sign-in and consent page, back to the hub.
    page.get_by_role("button", name="Connect to Visma eAccounting").click()
    page.get_by_role("button", name="Continue to Visma eAccounting").click()
    page.get_by_label("Username").fill("demo@bakery.example")
    page.get_by_label("Password").fill("demo-password")
    page.get_by_role("button", name="Yes, allow").click()
    page.get_by_role("link", name="ledgerbridge console").click()
    page.get_by_role("link", name="Bakeriet").click()
    page.get_by_text("Demo Bakery AS").first.wait_for()

    # The account setup from the company's own chart: 3010 is offered (it exists in 2025) and refused.
    setup = samples.account_setup(food_account="3010")
    for i, row in enumerate(setup["rows"]):
        page.locator(f"#kind-{i}").select_option(row["kind"])
        page.locator(f"#key-{i}").fill(row.get("key", ""))
        page.locator(f"#rate-{i}").fill(row.get("vat_rate", "") or "")
        page.locator(f"#account-{i}").select_option(row["account"])
        if row.get("vat_code"):
            page.locator(f"#vat-{i}").select_option(row["vat_code"])
    page.get_by_role("button", name="Check and save the setup").click()
    problem = page.locator("#row-problem-0")
    problem.wait_for()
    assert "account 3010 does not exist in fiscal year 2026" in problem.inner_text()
    shot(page, "account-setup-refused")
    page.locator("#account-0").select_option("3011")
    page.get_by_role("button", name="Check and save the setup").click()
    page.get_by_text("Account setup checked against the accounting system and saved").wait_for()
    shot(page, "connection")

    # The POS pushes two days; one has a category the setup does not book (it fails, with the reason).
    day = date.today() - timedelta(days=1)
    with httpx.Client(base_url=stack["url"], headers={"Authorization": f"Bearer {stack['keys']['LB_KEY']}"},
                      timeout=30) as api:
        good = api.post(f"/connections/{connection_id}/settlements", json=samples.settlement(day, 1))
        odd = api.post(f"/connections/{connection_id}/settlements",
                       json=samples.settlement(day - timedelta(days=1), 1, extra_category="Blomster"))
        assert good.status_code == 201 and odd.status_code == 201, (good.text, odd.text)
    page.get_by_role("button", name="Transfer now").click()
    page.get_by_text("Transfer started: 2 document(s) queued.").wait_for()
    wait_until(page, lambda: page.locator("td .state-booked").count() == 1
               and page.locator("td .state-failed").count() == 1, "one booked and one failed")
    assert "Blomster" in page.locator("tbody").inner_text()
    shot(page, "export-log")

    # The failed one: its reason in words; the missing row added from the drop-downs; replayed, booked.
    failed_id = odd.json()["document_id"]
    page.get_by_role("link", name=failed_id).click()
    assert "Blomster" in page.locator("#reason").inner_text()
    page.goto(connection_url)
    page.locator("#kind-9").select_option("sales")
    page.locator("#key-9").fill("Blomster")
    page.locator("#rate-9").fill("25")
    page.locator("#account-9").select_option("3000")
    page.locator("#vat-9").select_option("3")
    page.get_by_role("button", name="Check and save the setup").click()
    page.get_by_text("Account setup checked").wait_for()
    page.goto(f"{connection_url}/documents/{failed_id}")
    page.get_by_role("button", name="Replay").click()
    page.get_by_text("Queued again.").wait_for()
    wait_for_text(page, 'id="voucher"')
    assert "booked" in page.locator("h1").inner_text()
    shot(page, "document")
    # The whole log: both booked, each with its voucher number.
    page.goto(f"{connection_url}/documents?state=booked")
    assert page.locator("td .state-booked").count() == 2
    context.close()


def test_an_accounting_office_stores_its_integration_user_and_reads_the_vendors_answer(stack, browser):
    context, page = sign_in(browser, fresh_link(stack, "LB_KEY"))
    page.get_by_label("Accounting system").select_option(label="24SevenOffice")
    page.get_by_label("Name").fill("Regnskap")
    page.get_by_role("button", name="Create").click()
    page.get_by_text("Connection created").wait_for()
    page.get_by_label("E-mail").fill(TFSO_USER[0])
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Save and test integration").click()
    refused = page.locator("#check-result")
    assert "Refused" in refused.inner_text() and "password" in refused.inner_text().lower()
    page.get_by_label("E-mail").fill(TFSO_USER[0])
    page.get_by_label("Password").fill(TFSO_USER[1])
    page.get_by_role("button", name="Save and test integration").click()
    works = page.locator("#check-result")
    assert "Works" in works.inner_text() and "Client companies reached: 3" in works.inner_text()
    page.reload()
    wait_for_text(page, "Fjordbakeriet")
    shot(page, "tfso-connection")
    page.get_by_role("link", name="Connections").first.click()
    assert page.get_by_role("link", name="Regnskap").count() == 1
    shot(page, "connections")
    # Keyboard: the first Tab reaches the skip link.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    context.close()


def test_another_tenants_connection_is_not_found_and_sign_out_ends_the_session(stack, browser):
    context, page = sign_in(browser, fresh_link(stack, "LB_KEY3"))
    page.goto(f"{stack['url']}/console/connections")
    assert page.get_by_role("link", name="Bakeriet").count() == 0
    # On a phone: the café's connection page fits the screen's width (wide tables scroll in their box).
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("link", name=re.compile("Havnekafeen")).click()
    page.get_by_role("heading", name="Account setup").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, "connection-phone")
    # The API docs: Swagger UI renders the API's own document, offline (Powertools' bundled assets).
    page.get_by_role("link", name="API docs").click()
    page.get_by_text("/console/sign-in-links").first.wait_for()
    page.go_back()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console")
    page.goto(f"{stack['url']}/console/connections")
    assert "Sign in to the ledgerbridge console" in page.content()
    context.close()
