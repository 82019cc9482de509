""" "Play all" on a story board: one player that plays the story narration and then each scene's, in
order, the next starting when the last ends.

`st.audio` cannot be told to start another when it ends, so the board draws one `<audio>` element
and a few lines of script (`st.html` with its script allowed) that set the next source on `ended`,
and skip a file the route cannot serve (`error`) rather than stop there. Titles and captions are
people's words from the shared database: they reach the page only as JSON the script puts in with
`textContent`, never as markup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

ELEMENT_ID = "nd-play-all"


@dataclass(frozen=True)
class Track:
    label: str
    src: str


def _json(value: object) -> str:
    """JSON safe inside a <script> element: no `</script>`, no `<!--`, whatever the text holds."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def play_all_html(tracks: list[Track]) -> str:
    """The player's markup and script for these tracks, in playing order."""
    listed = _json([{"label": t.label, "src": t.src} for t in tracks])
    return f"""
<style>
  #{ELEMENT_ID} button {{ font: inherit; padding: .35rem .8rem; border-radius: .5rem; cursor: pointer;
    border: 1px solid rgba(49, 51, 63, .2); background: transparent; color: inherit; }}
  #{ELEMENT_ID} button[data-action=start] {{ background: #ff4b4b; border-color: #ff4b4b; color: white; }}
</style>
<div id="{ELEMENT_ID}" data-playing="" style="display:flex;flex-direction:column;gap:.4rem">
  <div style="display:flex;gap:.5rem;align-items:center">
    <button type="button" data-action="start">&#9654; Play all ({len(tracks)})</button>
    <button type="button" data-action="next">Next &#8250;</button>
    <span data-role="now" aria-live="polite"></span>
  </div>
  <audio controls preload="none" style="width:100%"></audio>
</div>
<script>
(() => {{
  const tracks = {listed};
  const root = document.getElementById("{ELEMENT_ID}");
  if (!root || root.dataset.ready) return;
  root.dataset.ready = "1";
  const audio = root.querySelector("audio");
  const now = root.querySelector("[data-role=now]");
  let at = -1;
  const play = (i) => {{
    at = i;
    root.dataset.playing = String(i);
    if (i >= tracks.length) {{
      now.textContent = `Played all ${{tracks.length}}.`;
      audio.removeAttribute("src");
      return;
    }}
    now.textContent = `${{i + 1}} of ${{tracks.length}}: ${{tracks[i].label}}`;
    audio.src = tracks[i].src;
    audio.play().catch(() => {{}});
  }};
  root.querySelector("[data-action=start]").addEventListener("click", () => play(0));
  root.querySelector("[data-action=next]").addEventListener("click", () => play(Math.max(at, 0) + 1));
  audio.addEventListener("ended", () => play(at + 1));
  audio.addEventListener("error", () => {{ if (at >= 0 && at < tracks.length) play(at + 1); }});
}})();
</script>
"""
