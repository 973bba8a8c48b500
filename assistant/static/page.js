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
  // The document panes scroll: keyboard users reach them with Tab, screen readers by name.
  const namePanes = () => {
    for (const [id, name] of [["doc-view", "Document"], ["claims-view", "Claims map"]]) {
      const pane = document.getElementById(id);
      if (pane && !pane.hasAttribute("tabindex")) {
        pane.setAttribute("tabindex", "0");
        pane.setAttribute("role", "region");
        pane.setAttribute("aria-label", name);
      }
    }
  };
  new MutationObserver(namePanes).observe(document.body, { childList: true, subtree: true });
  const watchAll = () => { watch(); watchMarks(); namePanes(); };
  watchAll();
  setInterval(watchAll, 1000);  // the panes are created after this script runs

  // Accessible names and copies in plain text.  Gradio names a chat message by its raw
  // HTML and its copy button copies that HTML; every answer carries its plain text (the
  // quotes and where they stand) in a .copy-text element that is never displayed.
  const plainText = (message) => {
    const copy = message.querySelector(".answer .copy-text");
    return (copy ? copy.textContent : message.innerText).trim();
  };
  const nameMessages = () => {
    document.querySelectorAll('#chat [data-testid="bot"], #chat [data-testid="user"]').forEach((m) => {
      const who = m.dataset.testid === "bot" ? "Answer" : "Question";
      const label = `${who}: ${plainText(m).split("\n")[0].slice(0, 500)}`;
      if (m.getAttribute("aria-label") !== label) m.setAttribute("aria-label", label);
    });
  };
  let watchedChat = null;
  const watchChat = () => {
    const chat = document.getElementById("chat");
    if (!chat || chat === watchedChat) return;
    watchedChat = chat;
    new MutationObserver(nameMessages).observe(chat, { childList: true, subtree: true, characterData: true });
    nameMessages();
  };
  setInterval(watchChat, 1000);
  watchChat();
  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest('#chat button[aria-label="Copy message"]');
    if (!button) return;
    // a message's buttons sit just after its row
    const bar = button.closest(".message-buttons");
    const row = bar ? bar.previousElementSibling : button.closest(".message-row");
    const message = row && row.querySelector('[data-testid="bot"], [data-testid="user"]');
    if (!message || !navigator.clipboard) return;
    event.preventDefault();
    event.stopPropagation();
    navigator.clipboard.writeText(plainText(message));
    button.setAttribute("data-copied", "true");
  }, true);

  // No jump on load: the question box takes the focus without scrolling the page (on a
  // phone it sits below the chat, and autofocus would scroll the title away).
  const focusQuestion = (tries) => {
    const box = document.querySelector("#question textarea");
    if (box) { box.focus({ preventScroll: true }); window.scrollTo(0, 0); return; }
    if (tries > 0) setTimeout(() => focusQuestion(tries - 1), 100);
  };
  focusQuestion(50);

  // Each new answer is shown from its start (the verdict comes first), not scrolled to its
  // end; once, when it arrives, so reading is not interrupted while it streams.
  let lastAnswer = null;
  const showAnswerStart = () => {
    const answers = document.querySelectorAll('#chat [data-testid="bot"]');
    const last = answers[answers.length - 1];
    if (!last || last === lastAnswer || !last.querySelector(".answer")) return;
    lastAnswer = last;
    const row = last.closest(".message-row") || last;
    let scroller = row.parentElement;
    while (scroller && !(/(auto|scroll)/.test(getComputedStyle(scroller).overflowY)
                         && scroller.scrollHeight > scroller.clientHeight)) {
      scroller = scroller.parentElement;
    }
    if (scroller === document.documentElement || scroller === document.body) scroller = null;
    if (scroller) {
      const offset = row.getBoundingClientRect().top - scroller.getBoundingClientRect().top;
      scroller.scrollTop += offset - 8;
    }
    const top = row.getBoundingClientRect().top;
    if (top < 0 || top > window.innerHeight * 0.6) row.scrollIntoView({ block: "start" });
  };
  new MutationObserver(() => setTimeout(showAnswerStart, 50)).observe(document.body, {
    childList: true, subtree: true,
  });

  // From the document back to the answer whose quote was followed (on a phone the
  // document is far below the chat).
  let cameFrom = null;
  const backLink = () => {
    let link = document.getElementById("back-to-answer");
    if (!link) {
      const pane = document.getElementById("doc-tabs") || document.getElementById("doc-view");
      if (!pane) return null;
      link = document.createElement("a");
      link.id = "back-to-answer";
      link.href = "#chat";
      link.textContent = "↑ Back to the answer";
      link.hidden = true;
      link.addEventListener("click", (e) => {
        e.preventDefault();
        if (cameFrom && cameFrom.isConnected) cameFrom.scrollIntoView({ block: "start" });
        link.hidden = true;
      });
      pane.before(link);
    }
    return link;
  };

  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest('a[href^="#q-"]');
    if (!link) return;
    const from = link.closest('[data-testid="bot"]');
    if (from) {
      cameFrom = from.closest(".message-row") || from;
      const back = backLink();
      if (back) back.hidden = false;
    }
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
