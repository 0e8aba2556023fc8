"""The self-contained HTML report: what the inputs hold (collect), figures, sections, the page (html,
markup) and a headless-Chromium check of the result (browser)."""
