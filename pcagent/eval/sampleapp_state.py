"""What the sample app's event log says happened, as one JSON object (for task evaluators):
``python -m pcagent.eval.sampleapp_state LOG``.

    {"name": last text of the Name field, "name_entered": text when Enter was last pressed in it (or null),
     "buttons": ["Save", ...], "opened": ["Item 4", ...], "clicked_items": [...],
     "context_actions": [{"action": "Rename", "item": "Item 2"}, ...], "pad_presses": 2,
     "shortcuts": ["ctrl+shift+t"], "drops": 1, "list_scroll": last scroll value (0 when never scrolled)}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def app_state(log: Path | str) -> dict:
    events = []
    for line in Path(log).read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:  # a line still being written
            break

    def of(kind: str) -> list[dict]:
        return [e for e in events if e.get("event") == kind]

    names, entered, scrolls, pads = of("name_changed"), of("name_return"), of("list_scrolled"), of("pad_press")
    return {
        "name": names[-1]["text"] if names else "",
        "name_entered": entered[-1]["text"] if entered else None,
        "buttons": [e["name"] for e in of("button_clicked")],
        "opened": [e["text"] for e in of("item_double_clicked")],
        "clicked_items": [e["text"] for e in of("item_clicked")],
        "context_actions": [{"action": e["action"], "item": e["item"]} for e in of("context_action")],
        "pad_presses": pads[-1]["count"] if pads else 0,
        "shortcuts": [e["keys"] for e in of("shortcut")],
        "drops": len(of("drop")),
        "list_scroll": scrolls[-1]["value"] if scrolls else 0,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m pcagent.eval.sampleapp_state LOG", file=sys.stderr)
        return 2
    print(json.dumps(app_state(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
