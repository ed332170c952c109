"""One turn of the learning loop: what the LLM answered becomes what the classifier knows.

python examples/learning_loop.py

The cascade (rules, the classifier, then an LLM) routes a few messages in words no brokerage
template has. The LLM layer answers them and logs its verdicts; the verdicts are reviewed (here:
all accepted, as an unattended loop would) and the classifier is retrained with them. Afterwards
the classifier answers those messages itself, and the LLM is not called. One message shows the
loop's blind spot: the classifier answers it wrongly but confidently, so it never reaches the LLM.

The "LLM" is a stand-in on 127.0.0.1 that speaks the OpenAI chat-completions protocol and knows
the answers; point ``base_url`` (or ``INTENTROUTE_LLM_BASE_URL``) at a real model instead. The
same steps from the command line::

    INTENTROUTE_LLM_LOG=verdicts.jsonl ...            # route with the LLM layer logging
    intentroute review verdicts.jsonl --out review.jsonl [--accept-all]
    intentroute train --data DATA --out BUNDLE --extra review.jsonl --extra-weight 3
"""

from __future__ import annotations

import json
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from intentroute import Cascade, Policy, default_cascade
from intentroute.bundle import save_bundle
from intentroute.data import GeneratorConfig, generate, load_templates, merge_templates, read_extra, write_dataset
from intentroute.domains import domain_path, load_domain
from intentroute.layers.llm import LLMLayer
from intentroute.layers.torch_bow import TorchBowLayer
from intentroute.loop import read_traffic, review_rows, traffic_view, write_review
from intentroute.train import train

MESSAGES = {  # what users wrote, and what they meant
    "yo whats my dough situation": "cash_balance",
    "how fat is my stash lately": "account_value",
    "gimme the lowdown on the moolah in my kitty": "cash_balance",
}


class Teacher(BaseHTTPRequestHandler):
    """A stand-in LLM: the right intent for the messages above, "none" for anything else."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        intent = MESSAGES.get(body["messages"][-1]["content"], "none")
        message = {"role": "assistant", "content": json.dumps({"intent": intent, "confidence": 0.9})}
        data = json.dumps(
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "teacher",
                "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def cascade_with(bundle: Path, llm: LLMLayer) -> Cascade:
    """The embedded cascade's rules and policies, this bundle as the classifier, the LLM last."""
    base = default_cascade()
    layers = [base.layers[0], TorchBowLayer(bundle, confidence="in_scope"), llm]
    return Cascade(layers, [*base.policies, Policy(0.5)], extractor=base.extractor, labels=sorted(base.labels or []))


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="intentroute-loop-"))
    templates = merge_templates(
        load_templates(domain_path("brokerage", "templates.json")),
        load_templates(domain_path("brokerage", "background.json")),
    )
    write_dataset(generate(templates, GeneratorConfig(size=8000, seed=7, split="template")), work / "data")
    slots = load_domain("brokerage").slots
    first = train(work / "data", "linear", slots=slots)
    save_bundle(work / "before", first.vectorizer, first.classifier)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Teacher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    log = work / "verdicts.jsonl"
    llm = LLMLayer(
        model="teacher",
        base_url=f"http://127.0.0.1:{server.server_address[1]}/v1",
        api_key="sk-local",
        log_file=log,  # every verdict, and every abstention, as a JSONL line
    )
    try:
        before = cascade_with(work / "before", llm)
        print("before:")
        for text in [*MESSAGES, "sing me a song"]:
            route = before.route(text)
            print(f"  {text!r} -> {route.intent} (decided by {route.layer})")

        # review: one row per text the LLM labelled, disagreements with the classifier first
        traffic = read_traffic([log], intents=sorted(before.labels or []))
        classifier = before.layers[1]
        rows = review_rows(traffic, classifier, accept_all=True)  # an unattended loop accepts all
        write_review(rows, work / "review.jsonl")
        view = traffic_view(traffic, classifier.scorer)  # type: ignore[attr-defined]
        print(f"reviewed: {len(rows)} rows accepted, {traffic.abstained} abstention(s) left out")
        print("words the classifier had no feature for: " + ", ".join(view["unknown_words"]))

        extra, _ = read_extra([work / "review.jsonl"])
        second = train(work / "data", "linear", slots=slots, extra=extra, extra_weight=3)
        save_bundle(work / "after", second.vectorizer, second.classifier)
        after = cascade_with(work / "after", llm)
        calls = llm.calls
        print("after:")
        for text in MESSAGES:
            route = after.route(text)
            print(f"  {text!r} -> {route.intent} (decided by {route.layer})")
        print(f"LLM calls after retraining: {llm.calls - calls}")
        print(
            "a confident wrong answer of the classifier never reaches the LLM, so the loop cannot see it: "
            "evaluate on labelled samples of what the classifier decides, too"
        )
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
