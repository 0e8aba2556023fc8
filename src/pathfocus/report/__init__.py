"""The self-contained HTML report: what the inputs hold (collect), figures, sections, the page (html,
markup) and a headless-Chromium check of the result (browser; live_page drives a served page, such as
the slide viewer's)."""
