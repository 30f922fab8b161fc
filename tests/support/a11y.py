"""Basic accessibility checks of a page open in a real browser (Playwright), run on every device
page the browser tests visit:

- the language is declared: ``<html lang>`` is present and not empty, and the page has a title;
- every visible form control (input, select, textarea) has a label: ``label[for]``, a wrapping
  label, ``aria-label`` or ``aria-labelledby`` naming elements with text;
- focus order: no positive ``tabindex``, and pressing Tab walks through the focusable elements
  in DOM order, each showing visibly that it has focus (``:focus-visible`` with an outline or a
  box shadow), and reaches the primary button;
- contrast: the primary button's text against its background is at least 4.5:1 (WCAG 2.x,
  1.4.3 AA, normal-size text); every other button's is reported too and must pass as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from playwright.async_api import Page

MIN_CONTRAST = 4.5

# One evaluation in the page: what the checks need, as plain data.
_SURVEY_JS = """
() => {
  const visible = (el) => {
    const style = getComputedStyle(el);
    return style.display !== 'none' && style.visibility !== 'hidden' && el.getClientRects().length > 0;
  };
  const textOf = (ids) => ids.split(/\\s+/).filter(Boolean)
      .map((id) => (document.getElementById(id)?.textContent || '').trim()).join(' ').trim();
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
      + (el.name ? '[name=' + el.name + ']' : '') + (el.className ? '.' + el.className : '');

  const unlabelled = [];
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden' || ['submit', 'button', 'reset', 'image'].includes(el.type) || !visible(el)) continue;
    const byLabel = Array.from(el.labels || []).some((label) => label.textContent.trim() !== '');
    const byAria = (el.getAttribute('aria-label') || '').trim() !== '';
    const byRef = textOf(el.getAttribute('aria-labelledby') || '') !== '';
    if (!(byLabel || byAria || byRef)) unlabelled.push(describe(el));
  }

  const positiveTabindex = Array.from(document.querySelectorAll('[tabindex]'))
      .filter((el) => el.tabIndex > 0).map(describe);

  const focusable = Array.from(document.querySelectorAll(
      'a[href], button, input, select, textarea, summary, [tabindex], [contenteditable=""], [contenteditable=true]'))
      .filter((el) => !el.disabled && el.tabIndex >= 0 && el.type !== 'hidden' && visible(el));

  // The colour actually painted behind an element: its background, composited over its ancestors'.
  const rgba = (css) => {
    const m = css.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const [r, g, b, a] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return [r, g, b, a === undefined ? 1 : a];
  };
  const over = (top, bottom) => {
    const a = top[3] + bottom[3] * (1 - top[3]);
    if (a === 0) return [0, 0, 0, 0];
    return [0, 1, 2].map((i) => (top[i] * top[3] + bottom[i] * bottom[3] * (1 - top[3])) / a).concat([a]);
  };
  const backgroundOf = (el) => {
    let colour = [0, 0, 0, 0];
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      colour = over(colour, rgba(getComputedStyle(node).backgroundColor) || [0, 0, 0, 0]);
      if (colour[3] >= 1) return colour;
    }
    return over(colour, [255, 255, 255, 1]);  // the canvas
  };
  const luminance = ([r, g, b]) => {
    const lin = (c) => { c /= 255; return c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  const contrast = (el) => {
    const background = backgroundOf(el);
    const text = over(rgba(getComputedStyle(el).color), background);
    const [hi, lo] = [luminance(text), luminance(background)].sort((x, y) => y - x);
    return {element: describe(el), text: getComputedStyle(el).color,
            background: getComputedStyle(el).backgroundColor, ratio: (hi + 0.05) / (lo + 0.05)};
  };

  const buttons = Array.from(document.querySelectorAll(
      'button, input[type=submit], input[type=button], [role=button]')).filter(visible);
  const primary = buttons.find((el) => el.classList.contains('primary'))
      || buttons.find((el) => el.type === 'submit') || null;

  return {
    lang: (document.documentElement.getAttribute('lang') || '').trim(),
    title: document.title.trim(),
    unlabelled,
    positiveTabindex,
    focusable: focusable.map(describe),
    primaryIndex: primary ? focusable.indexOf(primary) : null,
    primaryContrast: primary ? contrast(primary) : null,
    buttonContrasts: buttons.map(contrast),
  };
}
"""

# Which of the surveyed focusable elements has focus now, and whether it shows it.
_FOCUSED_JS = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  const focusable = Array.from(document.querySelectorAll(
      'a[href], button, input, select, textarea, summary, [tabindex], [contenteditable=""], [contenteditable=true]'))
      .filter((e) => !e.disabled && e.tabIndex >= 0 && e.type !== 'hidden'
                     && getComputedStyle(e).display !== 'none' && getComputedStyle(e).visibility !== 'hidden'
                     && e.getClientRects().length > 0);
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  const shadow = style.boxShadow !== 'none' && style.boxShadow !== '';
  return {index: focusable.indexOf(el), visible: el.matches(':focus-visible') && (outline || shadow)};
}
"""


@dataclass(frozen=True)
class Report:
    """What was checked on one page: for assertions beyond the basic ones, and for messages."""

    lang: str
    focusable: list[str]
    primary_contrast: dict[str, Any] | None


async def check_page(page: Page, *, expect_primary: bool | None = None) -> Report:
    """Assert the basic checks on ``page``; ``expect_primary`` says whether the page must have a
    primary button (None: whatever it has). Moves the keyboard focus: take screenshots before."""
    where = f"{page.url} ({await page.title()!r})"
    survey = await page.evaluate(_SURVEY_JS)
    assert survey["lang"], f"{where}: <html lang> is missing or empty"
    assert survey["title"], f"{where}: the page has no <title>"
    assert not survey["unlabelled"], f"{where}: form controls without a label: {survey['unlabelled']}"
    assert not survey["positiveTabindex"], f"{where}: positive tabindex on {survey['positiveTabindex']}"
    if expect_primary is not None:
        assert (survey["primaryContrast"] is not None) is expect_primary, \
            f"{where}: expected {'a' if expect_primary else 'no'} primary button"
    for measured in survey["buttonContrasts"]:
        assert measured["ratio"] >= MIN_CONTRAST, \
            f"{where}: contrast {measured['ratio']:.2f}:1 < {MIN_CONTRAST}:1 on {measured}"
    await _check_tab_order(page, where, survey["focusable"], survey["primaryIndex"])
    return Report(survey["lang"], survey["focusable"], survey["primaryContrast"])


async def _check_tab_order(page: Page, where: str, focusable: list[str], primary: int | None) -> None:
    """Tab from the start of the document: every focusable element in DOM order, visibly."""
    if not focusable:
        return
    # Tab until focus leaves the last element (to the document itself), so the walk below
    # starts at the top whatever had focus (autofocus) or where the last click was.
    for _ in range(len(focusable) + 2):
        await page.keyboard.press("Tab")
        if await page.evaluate(_FOCUSED_JS) is None:
            break
    else:
        raise AssertionError(f"{where}: Tab never leaves the page's elements (a focus trap?)")
    walked = []
    for _ in focusable:
        await page.keyboard.press("Tab")
        focused = await page.evaluate(_FOCUSED_JS)
        assert focused is not None, f"{where}: Tab left the page after {walked} of {focusable}"
        assert focused["index"] >= 0, f"{where}: Tab moved to an element the survey did not count as focusable"
        assert focused["visible"], f"{where}: {focusable[focused['index']]} has focus but does not show it"
        walked.append(focusable[focused["index"]])
    assert walked == focusable, f"{where}: Tab order {walked} differs from the DOM order {focusable}"
    if primary is not None:
        assert primary >= 0 and focusable[primary] in walked, f"{where}: Tab does not reach the primary button"
