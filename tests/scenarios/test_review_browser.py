"""The review server in a real browser (headless Chromium through the DevTools protocol): approve
and reject by click and by keyboard, the decisions file written and read back, what plan and apply
then do with it, earlier versions beside the current ones after a retrain, videos playing, and what
the server refuses (that one over plain HTTP, as any other program would try). The browser tests
skip without Chromium, except in CI (CI installs it: .ci/install.d/chromium.sh)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest
import yaml
from cdp_browser import Browser, require_browser
from review_served import review_server
from scenario_helpers import changes

from bria_pipeline.reports.gallery import output_address
from bria_pipeline.state.manifest import Manifest

pytestmark = pytest.mark.timeout(180)

BEACH = "generation.places[beach-dawn-seed1]"
CITY = "generation.places[city-night-seed2]"
SHOTS = Path(os.environ.get("REVIEW_SHOTS", "/work/review-shots"))


def card(address: str) -> str:
    return f'figure.card[data-address="{address}"]'


def decisions(team) -> dict:
    path = team.dir / "spec.decisions.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}


def current(team) -> dict[str, object]:
    return {output_address(r): r for r in Manifest.load(team.dir / "outputs") if not r.retired}


def choose(browser, select: str, value: str) -> None:
    """Pick `value` in a filter, as a person does (the page hears the change)."""
    browser.js(f"(() => {{ const f = document.getElementById('{select}'); f.value = {json.dumps(value)}; "
               "f.dispatchEvent(new Event('change')); })()")


@pytest.fixture
def browser(tmp_path):
    require_browser()
    made = Browser(tmp_path / "profile")
    yield made
    made.close()


def test_approve_and_reject_by_click_and_keyboard_then_prune_deletes_only_the_rejected(team, browser):
    keys = {a: r.key for a, r in current(team).items()}
    with review_server(team.spec) as url:
        browser.open(url)
        browser.click(f"{card(BEACH)} button.approve")
        browser.wait_for(f"document.querySelector('{card(BEACH)}').classList.contains('approved')")
        # keyboard: focus the city card, a note, then r
        browser.js(f"document.querySelector('{card(CITY)}').focus()")
        browser.key("n")
        browser.js(f"document.activeElement.value = 'too dark'")
        browser.key("Enter")
        browser.wait_for("document.getElementById('status').textContent.startsWith('saved')")
        browser.key("r")
        browser.wait_for(f"document.querySelector('{card(CITY)}').dataset.decision === 'reject'")
        browser.wait_for("document.querySelector('[data-count=rejected]').textContent === '1'")

        written = decisions(team)["outputs"]
        assert written[BEACH]["decision"] == "approve" and written[BEACH]["key"] == keys[BEACH]
        assert written[CITY]["decision"] == "reject" and written[CITY]["note"] == "too dark"
        assert set(written) == {BEACH, CITY}

        # j moves on, u clears, a approves: the keyboard alone
        browser.key("j")
        moved = browser.js("document.activeElement.dataset.address")
        browser.key("a")
        browser.wait_for(f"document.querySelector('{card(moved)}').dataset.decision === 'approve'")
        browser.key("u")
        browser.wait_for(f"document.querySelector('{card(moved)}').dataset.decision === ''")
        assert moved not in decisions(team)["outputs"]

        # read back: a fresh page shows what the file says
        browser.open(url)
        assert browser.js(f"document.querySelector('{card(BEACH)}').classList.contains('approved')")
        assert browser.js(f"document.querySelector('{card(CITY)}').querySelector('.verdict').textContent") == "rejected"
        assert browser.js(f"document.querySelector('{card(CITY)} .note-input').value") == "too dark"
        # filters: rejected only
        choose(browser, "f-decision", "reject")
        visible = browser.js("[...document.querySelectorAll('figure.card:not(.hidden-by-filter)')].map(c => c.dataset.address)")
        assert visible == [CITY]
        choose(browser, "f-decision", "")
        # zoom: c marks one, z on another shows both full size side by side
        browser.js(f"document.querySelector('{card(BEACH)}').focus()")
        browser.key("c")
        browser.js(f"document.querySelector('{card(CITY)}').focus()")
        browser.key("z")
        browser.wait_for("[...document.querySelectorAll('#zoom img')].every(i => i.complete && i.naturalWidth > 0)"
                         " && document.querySelectorAll('#zoom img').length === 2")
        shown = browser.js("[...document.querySelectorAll('#zoom img')].map(i => new URL(i.src).pathname)")
        assert shown == ["/files/outputs/places/beach-dawn-seed1.png", "/files/outputs/places/city-night-seed2.png"]
        browser.key("Escape")
        assert browser.js("document.getElementById('zoom').hidden")

    plan = team.plan(prune=True)
    assert changes(plan) == [(CITY, "delete")]
    before = sorted(p.name for p in (team.dir / "outputs").rglob("*.png"))
    team.apply(plan, auto_approve=True)
    after = sorted(p.name for p in (team.dir / "outputs").rglob("*.png"))
    assert sorted(set(before) - set(after)) == ["city-night-seed2.png"]


def test_after_a_retrain_old_and_new_sit_in_one_row_and_the_approved_one_survives_a_prune(team, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    old = current(team)[BEACH]
    with review_server(team.spec) as url:
        browser.open(url)
        browser.click(f"{card(BEACH)} button.approve")
        browser.wait_for(f"document.querySelector('{card(BEACH)}').dataset.decision === 'approve'")
        browser.screenshot(SHOTS / "gallery-before-retrain.png")

    team.edit("rank: 32", "rank: 16")
    team.apply(team.plan(prune=True), auto_approve=True)
    new = current(team)[BEACH]
    assert new.key != old.key and new.model_name != old.model_name
    kept = Manifest.load(team.dir / "outputs").get(old.key)
    assert kept is not None and (team.dir / "outputs" / kept.file).is_file()  # approved: survives the prune

    with review_server(team.spec) as url:
        browser.open(url)
        row = browser.js(f"""(() => {{
            const row = document.getElementById('o-{new.key}').closest('tr');
            return [...row.querySelectorAll('figure.card')].map(c => [c.dataset.key, c.dataset.decision]);
        }})()""")
        assert row[:2] == [[new.key, ""], [old.key, "approve"]]  # newest first, in one row
        headers = browser.js("[...document.querySelector('table.versions thead').querySelectorAll('th')].map(t => t.textContent)")
        assert headers[1].startswith(new.model_name) and "current" in headers[1] and headers[2].startswith(old.model_name)
        browser.js("window.scrollTo(0, 0)")
        browser.screenshot(SHOTS / "gallery-after-retrain.png")
        # an earlier version is reviewed like any other output
        browser.click(f"#o-{old.key} button.reject")
        browser.wait_for(f"document.getElementById('o-{old.key}').dataset.decision === 'reject'")
        # the new one is not good either: R rejects it and asks for another seed
        browser.js(f"document.getElementById('o-{new.key}').focus()")
        browser.key("R")
        browser.wait_for(f"document.getElementById('o-{new.key}').dataset.decision === 'reject'")
    written = decisions(team)["outputs"]
    assert written[output_address(kept)]["key"] == old.key
    assert written[BEACH]["key"] == new.key and written[BEACH]["regenerate"] is True
    [(address, kind)] = changes(team.plan())
    assert kind == "create" and address.startswith("generation.places[beach-dawn-seed") and address != BEACH
    assert team.plan().action(address).billed


def test_excluding_a_training_image_in_the_panel_makes_a_dataset_version_without_it(team, browser):
    with review_server(team.spec) as url:
        browser.open(url)
        browser.key("t")
        assert browser.wait_for("!document.getElementById('panel').hidden")
        figure = 'figure.train[data-image="images/pose-06.png"]'
        assert browser.wait_for(f"document.querySelector('{figure} img').naturalWidth > 0")
        browser.js(f"document.querySelector('{figure} .reason').value = 'the hands are wrong'")
        browser.click(f"{figure} input.exclude")
        browser.wait_for(f"document.querySelector('{figure}').classList.contains('excluded')")
        # a caption fixed in the panel
        fixed = '{"subject": "Lucy, purple hair, red boots"}'
        five = 'figure.train[data-image="images/pose-05.png"]'
        browser.js(f"document.querySelector('{five} details').open = true;"
                   f"document.querySelector('{five} textarea').value = {json.dumps(fixed)}")
        browser.click(f"{five} button.save-caption")
        browser.wait_for("document.getElementById('status').textContent === 'saved: images/pose-05.png'")
        browser.open(url)  # read back: the panel says what the file says
        assert browser.js(f"document.querySelector('{figure} input.exclude').checked")
        assert browser.js(f"document.querySelector('{figure} .reason').value") == "the hands are wrong"
        # the panel shows the captions the spec gives (pose-02 has a manual one)
        caption = browser.js("document.querySelector('figure.train[data-image=\"images/pose-02.png\"] textarea').value")
        assert "teal dress" in json.loads(caption)["subject"]
        # the dataset review sheet, served beside the gallery, its images drawn from the spec's folder
        browser.open(url + "sheet")
        drawn = browser.wait_for("(() => { const imgs = [...document.querySelectorAll('img')];"
                                 " return imgs.length === 10 && imgs.every(i => i.complete && i.naturalWidth > 0) && imgs.length; })()")
        assert drawn == 10
    assert decisions(team)["images"] == {"lucy": {"images/pose-06.png": {"exclude": True, "reason": "the hands are wrong"},
                                                  "images/pose-05.png": {"caption": '{"subject": "Lucy, purple hair, red boots"}'}}}
    five = next(i for i in team.pipeline().desired.datasets["lucy"].images if i.key == "images/pose-05.png")
    assert five.caption == '{"subject": "Lucy, purple hair, red boots"}'  # a manual caption now
    plan = team.plan()
    assert plan.action("dataset.lucy").kind == "replace"
    assert plan.action("dataset.lucy").reason.endswith("excluded in spec.decisions.yaml: images/pose-06.png (the hands are wrong)")
    team.apply(plan, auto_approve=True)
    name = team.pipeline().desired.datasets["lucy"].remote_name
    images = team.project()["datasets"][name]["images"]
    assert len(images) == 9 and not any(i.startswith("pose-06.") for i in images)


def test_the_video_plays_in_the_gallery(team, browser, tmp_path):
    """An MP4 (the real API's, or the sandbox's with PyAV) in a <video> element that plays; the
    sandbox's default (an animated WebP) as an image whose frames change."""
    from PIL import Image

    from bria_pipeline.sandbox.rendering import render_video

    video = next(r for r in Manifest.load(team.dir / "outputs") if r.kind == "video")
    with review_server(team.spec) as url:
        browser.open(url)
        if video.file.endswith(".mp4"):  # PyAV is in the test extra: the sandbox made an MP4
            browser.js("const v = document.querySelector('video'); v.muted = true; v.play()")
            browser.wait_for("document.querySelector('video').readyState >= 2", timeout=15)
            first = browser.js("document.querySelector('video').currentTime")
            browser.wait_for(f"document.querySelector('video').currentTime > {first}", timeout=10)
            assert browser.js("document.querySelector('video').error") is None
    # the default install's fallback, served the same way
    source = Image.open(team.dir / "outputs" / "places" / "beach-dawn-seed1.png")
    data, ext = render_video(source, 3, seconds=2, container="webp")
    (team.dir / "outputs" / video.file).write_bytes(data)  # the page sniffs the content, not the name
    with review_server(team.spec) as url:
        browser.open(url)
        browser.wait_for("(() => { const i = document.querySelector('figure.card.wide img.animated'); "
                         "return i && i.complete && i.naturalWidth > 0; })()")
        box = browser.js("""(() => { const img = document.querySelector('figure.card.wide img.animated');
            img.scrollIntoView({block: 'center'}); const r = img.getBoundingClientRect();
            return {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height, scale: 1}; })()""")
        frames: set[str] = set()
        deadline = time.monotonic() + 10
        while len(frames) < 3 and time.monotonic() < deadline:  # what is drawn there changes: it plays
            frames.add(browser.page("Page.captureScreenshot", format="png", clip=box)["data"])
            time.sleep(0.25)
        assert len(frames) >= 3, "the animated image does not move"


def test_the_server_refuses_writes_without_its_token_and_paths_outside_the_spec_folder(team, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the reviewers")
    (team.dir / "escape.txt").symlink_to(secret)
    key = current(team)[BEACH].key
    body = {"address": BEACH, "key": key, "decision": "approve"}
    with review_server(team.spec) as url:
        page = httpx.get(url).text
        token = page.split('name="review-token" content="', 1)[1].split('"', 1)[0]
        with httpx.Client(base_url=url, timeout=10) as http:
            assert http.post("/api/decision", json=body).status_code == 403
            assert http.post("/api/decision", json=body, headers={"X-Review-Token": "guess"}).status_code == 403
            assert http.post("/api/decision", json={**body, "path": "../elsewhere.yaml"},
                             headers={"X-Review-Token": token}).status_code == 403
            assert http.post("/api/decision", json=body, headers={"X-Review-Token": token, "Host": "evil.example"}).status_code == 403
            assert not (team.dir / "spec.decisions.yaml").exists()  # nothing written so far
            for outside in ("/files/..%2F..%2Fsecret.txt", "/files/escape.txt", f"/files/{secret}"):
                answer = http.get(outside)
                assert answer.status_code in (403, 404) and "not for the reviewers" not in answer.text, outside
            assert http.get("/files/escape.txt").status_code == 403
            (team.dir / ".env").write_text("BRIA_API_TOKEN=not-for-the-page")
            for private in ("/files/.env", "/files/spec.yaml", "/files/.bria/lucy/state.json"):
                assert http.get(private).status_code == 403, private  # only images and videos, never hidden files
            assert http.get("/files/outputs/places/beach-dawn-seed1.png").status_code == 200
            written = http.post("/api/decision", json=body, headers={"X-Review-Token": token})
            assert written.status_code == 200 and written.json()["counts"]["approved"] == 1
            elapsed = []
            for n in range(5):
                started = time.perf_counter()
                http.post("/api/decision", json={**body, "note": f"n{n}"}, headers={"X-Review-Token": token})
                elapsed.append(time.perf_counter() - started)
    assert decisions(team)["outputs"][BEACH] == {"decision": "approve", "key": key, "note": "n4",
                                                 "at": decisions(team)["outputs"][BEACH]["at"]}
    assert json.loads(json.dumps(decisions(team)))  # plain data
