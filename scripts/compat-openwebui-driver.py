"""The OpenWebUI side of scripts/compat-openwebui.sh: runs in OpenWebUI's own venv, against a running OpenWebUI.

    python scripts/compat-openwebui-driver.py --owui http://127.0.0.1:3000 --model echo-agent --mode open-web-ui \
        --screenshot docs/images/openwebui-open-web-ui.png

1. signs up the admin through OpenWebUI's API (`/api/v1/auths/signup`; signs in when the admin exists);
2. chats through `/api/chat/completions` with the body its UI sends (a new chat: `parent_id: null`, the
   `user_message`, the assistant message `id`, the background tasks title/tags/follow-ups), then a second message in
   the same chat, whose history OpenWebUI rebuilds from its database;
3. reads the stored chat back (`/api/v1/chats/<id>`) and checks it: no error on any answer, no failed tool call, the
   tool's answer in the text, and per TOOL_RESULT_MODE: `open-web-ui` → a done `<details type="tool_calls">` panel
   for `echo`; `none`/`aura` → no panel and no tool call for OpenWebUI to run;
4. with `--screenshot`: logs in with Chromium (the system browser, driven by playwright), opens the chat, expands the
   tool panel and saves a screenshot.

Prints one line per check; exits 1 if any check failed (after taking the screenshot anyway).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from typing import Any

import requests

EMAIL = "admin@example.com"
PASSWORD = "compat-Passw0rd!"
FIRST = "Please call echo with hello from OpenWebUI"
SECOND = "Thanks! What did the tool say?"


class Checks:
    def __init__(self) -> None:
        self.failed: list[str] = []

    def check(self, ok: bool, what: str, detail: Any = "") -> None:
        print(f"  {'ok  ' if ok else 'FAIL'} {what}" + ("" if ok or detail == "" else f": {detail}"), flush=True)
        if not ok:
            self.failed.append(what)


def login(base: str) -> str:
    response = requests.post(
        f"{base}/api/v1/auths/signup", json={"name": "Admin", "email": EMAIL, "password": PASSWORD}, timeout=60
    )
    if response.status_code != 200:
        response = requests.post(f"{base}/api/v1/auths/signin", json={"email": EMAIL, "password": PASSWORD}, timeout=60)
    response.raise_for_status()
    return str(response.json()["token"])


def wait_for_model(base: str, headers: dict[str, str], model: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        models = requests.get(f"{base}/api/models", headers=headers, timeout=60).json().get("data", [])
        found = next((item for item in models if item.get("id") == model), None)
        if found is not None:
            return dict(found)
        if time.monotonic() > deadline:
            raise SystemExit(f"OpenWebUI does not list the model {model!r}: {[m.get('id') for m in models]}")
        time.sleep(2)


def send(
    base: str,
    headers: dict[str, str],
    model: dict[str, Any],
    text: str,
    *,
    chat_id: str | None,
    parent_id: str | None,
) -> tuple[str, str]:
    """One user message, sent the way OpenWebUI's UI sends it (minus its socket session).

    Returns the chat id and the answer's message id.
    """
    user_id, answer_id = str(uuid.uuid4()), str(uuid.uuid4())
    first = chat_id is None
    body: dict[str, Any] = {
        "stream": True,
        "model": model["id"],
        "params": {},
        "features": {},
        "variables": {},
        "model_item": model,
        "id": answer_id,
        "parent_id": parent_id,
        "user_message": {
            "id": user_id,
            "parentId": parent_id,
            "childrenIds": [answer_id],
            "role": "user",
            "content": text,
            "timestamp": int(time.time()),
            "models": [model["id"]],
        },
        "background_tasks": (
            {"title_generation": True, "tags_generation": True, "follow_up_generation": True}
            if first
            else {"follow_up_generation": True}
        ),
    }
    if chat_id is not None:
        body["chat_id"] = chat_id
    before = {chat["id"] for chat in requests.get(f"{base}/api/v1/chats/", headers=headers, timeout=60).json()}
    response = requests.post(f"{base}/api/chat/completions", headers=headers, json=body, timeout=300)
    if response.status_code != 200:
        raise SystemExit(f"/api/chat/completions answered {response.status_code}: {response.text[:500]}")
    if chat_id is None:
        after = requests.get(f"{base}/api/v1/chats/", headers=headers, timeout=60).json()
        created = [chat["id"] for chat in after if chat["id"] not in before]
        if len(created) != 1:
            raise SystemExit(f"expected one new chat, found {created}")
        chat_id = created[0]
    return chat_id, answer_id


def stored_chat(base: str, headers: dict[str, str], chat_id: str) -> dict[str, Any]:
    response = requests.get(f"{base}/api/v1/chats/{chat_id}", headers=headers, timeout=60)
    response.raise_for_status()
    return dict(response.json()["chat"])


def check_answer(checks: Checks, message: dict[str, Any], mode: str, *, tool_turn: bool, label: str) -> None:
    content = str(message.get("content") or "")
    output = message.get("output") or []
    checks.check(message.get("error") is None, f"{label}: no error shown", message.get("error"))
    failed = [item for item in output if item.get("status") == "failed"]
    checks.check(not failed, f"{label}: no failed tool call", json.dumps(failed)[:400])
    checks.check(bool(content.strip()), f"{label}: an answer text", content)
    if not tool_turn:
        return
    checks.check("echo returned" in content, f"{label}: the tool's result reached the answer", content[-300:])
    calls_for_owui = [item for item in output if item.get("type") == "function_call"]
    checks.check(not calls_for_owui, f"{label}: no tool call for OpenWebUI to run", json.dumps(calls_for_owui)[:400])
    panel = '<details type="tool_calls"' in content
    if mode == "open-web-ui":
        checks.check(panel, f"{label}: a tool panel in the answer", content[:300])
        checks.check(panel and 'done="true"' in content and 'name="echo"' in content, f"{label}: the panel is done")
    else:
        checks.check(not panel, f"{label}: no tool panel in mode {mode}", content[:300])


def screenshot(base: str, token: str, chat_id: str, path: str, *, expand_panel: bool) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(60_000)
        page.goto(f"{base}/auth", wait_until="domcontentloaded")
        try:
            page.fill("input[autocomplete=email]", EMAIL)
            page.fill("input[type=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(lambda url: "/auth" not in url)
        except Exception as error:  # the login form changed: fall back to the API's token
            print(f"  note: logging in through the form failed ({error}); using the API token", flush=True)
            page.evaluate("token => localStorage.setItem('token', token)", token)
        page.goto(f"{base}/c/{chat_id}", wait_until="domcontentloaded")
        page.get_by_text(SECOND).first.wait_for()
        page.wait_for_timeout(2_000)
        for name in ("Okay, Let's Go!", "Okay, Let's Go"):  # the "what's new" dialog on a first login
            button = page.get_by_role("button", name=name)
            if button.count():
                button.first.click()
                page.wait_for_timeout(500)
        panels = page.locator("div[role=button]").filter(has_text="echo")
        if expand_panel and panels.count():  # open the tool panel: its arguments and result
            panels.first.click()
            page.wait_for_timeout(1_000)
        page.screenshot(path=path, full_page=False)
        browser.close()
    print(f"  screenshot: {path}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--owui", required=True, help="OpenWebUI's URL")
    parser.add_argument("--model", required=True, help="the Aura agent to chat with")
    parser.add_argument(
        "--mode", required=True, choices=["none", "open-web-ui", "aura"], help="Aura's TOOL_RESULT_MODE"
    )
    parser.add_argument("--screenshot", help="save a screenshot of the chat page here")
    args = parser.parse_args()

    token = login(args.owui)
    headers = {"Authorization": f"Bearer {token}"}
    model = wait_for_model(args.owui, headers, args.model)
    checks = Checks()
    print(f"== OpenWebUI with Aura in TOOL_RESULT_MODE={args.mode}", flush=True)
    chat_id, first_answer = send(args.owui, headers, model, FIRST, chat_id=None, parent_id=None)
    chat_id, second_answer = send(args.owui, headers, model, SECOND, chat_id=chat_id, parent_id=first_answer)
    time.sleep(2)  # the follow-ups of the second answer are generated after it is saved
    chat = stored_chat(args.owui, headers, chat_id)
    messages = chat["history"]["messages"]
    check_answer(checks, messages[first_answer], args.mode, tool_turn=True, label="first answer")
    check_answer(checks, messages[second_answer], args.mode, tool_turn=False, label="second answer")
    checks.check(chat.get("title") not in (None, "", "New Chat"), "the title task answered", chat.get("title"))
    checks.check(bool(messages[first_answer].get("followUps")), "the follow-up task answered")
    if args.screenshot:
        try:
            screenshot(args.owui, token, chat_id, args.screenshot, expand_panel=True)
        except Exception as error:
            checks.check(False, "a screenshot of the chat", error)
    if checks.failed:
        print(f"FAILED ({args.mode}): {', '.join(checks.failed)}", flush=True)
        sys.exit(1)
    print(f"PASSED ({args.mode})", flush=True)


if __name__ == "__main__":
    main()
