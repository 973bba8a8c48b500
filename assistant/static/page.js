// Clicking a quote link (href "#q-START-END", or "#q-DOCID-START-END" over a corpus; offsets
// in code points of the document text) switches to the Document tab, scrolls to the span and
// highlights exactly that span.
() => {
  if (window.__docAssistantReady) return;
  window.__docAssistantReady = true;

  // Offsets are code points (Python); DOM text offsets are UTF-16 units.
  const units = (text, points) => {
    let u = 0, i = 0;
    for (const ch of text) { if (i === points) break; u += ch.length; i += 1; }
    return u;
  };

  const clearActive = (root) => {
    root.querySelectorAll("mark.active-quote").forEach((m) => {
      const parent = m.parentNode;
      parent.replaceChild(document.createTextNode(m.textContent), m);
      parent.normalize();
    });
  };

  const highlight = (doc, start, end) => {
    // Over a corpus the pane may show several documents: the link names which one.
    const root = document.querySelector(doc ? `#doc-view .doc[data-doc="${doc}"]` : "#doc-view .doc");
    if (!root) return false;
    clearActive(root);
    let first = null;
    root.querySelectorAll(".seg").forEach((seg) => {
      const a = Number(seg.dataset.start), b = Number(seg.dataset.end);
      if (b <= start || a >= end || !seg.firstChild) return;
      const node = seg.firstChild;
      const range = document.createRange();
      range.setStart(node, units(node.data, Math.max(start, a) - a));
      range.setEnd(node, units(node.data, Math.min(end, b) - a));
      const mark = document.createElement("mark");
      mark.className = "active-quote";
      range.surroundContents(mark);
      first = first || mark;
    });
    if (first) {
      // Scroll the document pane, not the page: the chat stays where the reader is.
      const box = document.getElementById("doc-view");
      const offset = first.getBoundingClientRect().top - box.getBoundingClientRect().top;
      box.scrollTo({ top: box.scrollTop + offset - box.clientHeight / 3, behavior: "smooth" });
      const rect = box.getBoundingClientRect();
      if (rect.bottom < 0 || rect.top > window.innerHeight) box.scrollIntoView({ block: "nearest" });
    }
    return first !== null;
  };

  // Split the segment holding code point ``at`` in two, so a span can start or end there.
  const splitAt = (root, at) => {
    for (const seg of root.querySelectorAll(".seg")) {
      const a = Number(seg.dataset.start), b = Number(seg.dataset.end);
      if (at <= a || at >= b) continue;
      const text = seg.textContent;
      const cut = units(text, at - a);
      const tail = seg.cloneNode(false);
      tail.textContent = text.slice(cut);
      tail.dataset.start = String(at);
      seg.textContent = text.slice(0, cut);
      seg.dataset.end = String(at);
      seg.after(tail);
      return;
    }
  };

  // An answer's passages, marked in the document already shown (the server sends only the
  // spans, not the document again): highlighted, and numbered as in the chat.
  const applyMarks = () => {
    const holder = document.querySelector("#doc-marks .doc-marks");
    if (!holder) return;
    const spec = JSON.parse(holder.dataset.marks);
    const root = document.querySelector(`#doc-view .doc[data-doc="${spec.doc}"]`);
    if (!root) return;
    clearActive(root);
    root.querySelectorAll(".seg.hl").forEach((seg) => {
      seg.classList.remove("hl");
      delete seg.dataset.q;
    });
    root.querySelectorAll("sup.qnum").forEach((sup) => sup.remove());
    for (const [, start, end] of spec.spans) { splitAt(root, start); splitAt(root, end); }
    const segs = [...root.querySelectorAll(".seg")];
    for (const [n, start, end] of spec.spans) {
      const inside = segs.filter((seg) =>
        Number(seg.dataset.start) >= start && Number(seg.dataset.end) <= end);
      inside.forEach((seg) => {
        seg.classList.add("hl");
        seg.dataset.q = seg.dataset.q ? `${seg.dataset.q} ${n}` : String(n);
      });
      if (spec.numbered && inside.length) {
        const sup = document.createElement("sup");
        sup.className = "qnum";
        sup.id = `quote-${n}`;
        sup.textContent = `[${n}]`;
        inside[0].before(sup);
      }
    }
  };

  const showDocumentTab = () => {
    const button = document.getElementById("tab-document-button");
    if (button && button.getAttribute("aria-selected") !== "true") { button.click(); return true; }
    return false;
  };

  // When an answer arrives the document is re-rendered with its passages highlighted:
  // bring the first one into the pane's view.
  let watched = null;
  let shown = "";
  let timer = null;
  const scrollToFirst = () => {
    const box = document.getElementById("doc-view");
    const marked = box ? [...box.querySelectorAll(".seg.hl")] : [];
    const signature = marked.map((el) => el.dataset.start).join(",");
    if (signature === shown) return;  // our own <mark>s, or nothing new
    shown = signature;
    if (!marked.length) return;
    const offset = marked[0].getBoundingClientRect().top - box.getBoundingClientRect().top;
    box.scrollTo({ top: box.scrollTop + offset - box.clientHeight / 3, behavior: "smooth" });
  };
  const watch = () => {
    const box = document.getElementById("doc-view");
    if (!box || box === watched) return;
    watched = box;
    new MutationObserver(() => {  // Gradio patches the DOM in place: debounce, then compare
      clearTimeout(timer);
      timer = setTimeout(scrollToFirst, 60);
    }).observe(box, { childList: true, subtree: true, attributes: true });
  };
  let watchedMarks = null;
  const watchMarks = () => {
    const box = document.getElementById("doc-marks");
    if (!box || box === watchedMarks) return;
    watchedMarks = box;
    new MutationObserver(applyMarks).observe(box, { childList: true, subtree: true, attributes: true });
  };
  const watchAll = () => { watch(); watchMarks(); };
  watchAll();
  setInterval(watchAll, 1000);  // the panes are created after this script runs

  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest('a[href^="#q-"]');
    if (!link) return;
    const m = link.getAttribute("href").match(/^#q-(?:(\w+)-)?(\d+)-(\d+)$/);
    if (!m) return;
    event.preventDefault();
    event.stopPropagation();
    const [doc, start, end] = [m[1] || "", Number(m[2]), Number(m[3])];
    const run = (tries) => {
      if (!highlight(doc, start, end) && tries > 0) setTimeout(() => run(tries - 1), 100);
    };
    if (showDocumentTab()) setTimeout(() => run(20), 50); else run(20);
  }, true);
}
