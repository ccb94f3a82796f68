/* The portal's only script: Copy buttons, select-all check-boxes, auto-submitting filters,
   confirmations in a <dialog> (forms with data-confirm, and links to a confirmation page that name
   such a form in data-confirm-form; without script the server asks on a page),
   and "/" to jump to the search box. Everything works without it (except copying to the
   clipboard, which falls back to selecting the text). No inline handlers: CSP-friendly. */
(function () {
  "use strict";

  // The page's language gives the script its words: data-text-* attributes on <body> (base.html).
  function word(name, fallback) {
    var value = document.body && document.body.getAttribute("data-text-" + name);
    return value || fallback;
  }

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function flash(button, text) {
    var original = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", original);
    button.textContent = text;
    window.clearTimeout(button._portalTimer);
    button._portalTimer = window.setTimeout(function () { button.textContent = original; }, 2000);
  }

  function copy(button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) { return; }
    var text = target.textContent.trim();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { flash(button, word("copied", "Copied")); },
        function () { selectText(target); flash(button, word("press-copy", "Press Ctrl+C")); }
      );
    } else {
      selectText(target);
      var done = false;
      try { done = document.execCommand("copy"); } catch (error) { done = false; }
      flash(button, done ? word("copied", "Copied") : word("press-copy", "Press Ctrl+C"));
    }
  }

  function updateSelection(form) {
    var boxes = form.querySelectorAll('input[type="checkbox"][name="keys"]');
    var checked = form.querySelectorAll('input[type="checkbox"][name="keys"]:checked').length;
    var all = form.querySelector("input[data-check-all]");
    if (all) {
      all.checked = boxes.length > 0 && checked === boxes.length;
      all.indeterminate = checked > 0 && checked < boxes.length;
    }
    var count = form.querySelector("[data-selection-count]");
    if (count) { count.textContent = checked ? word("selected", "{count} selected").replace("{count}", checked) : ""; }
    var submit = form.querySelector("[data-selection-submit]");
    if (submit) { submit.disabled = checked === 0; }
  }

  var confirmDialog = null;

  function dialogFor(form) {
    if (!confirmDialog) {
      confirmDialog = document.createElement("dialog");
      confirmDialog.className = "confirm-dialog";
      confirmDialog.setAttribute("aria-labelledby", "confirm-dialog-text");
      confirmDialog.innerHTML =
        '<form method="dialog"><p id="confirm-dialog-text"></p><div class="actions">' +
        '<button type="submit" value="confirm" class="button button-danger" data-dialog-confirm></button>' +
        '<button type="submit" value="cancel" class="button button-ghost" autofocus></button></div></form>';
      confirmDialog.querySelector('button[value="cancel"]').textContent = word("cancel", "Cancel");
      document.body.appendChild(confirmDialog);
    }
    confirmDialog.querySelector("#confirm-dialog-text").textContent = form.getAttribute("data-confirm");
    confirmDialog.querySelector("[data-dialog-confirm]").textContent =
      form.getAttribute("data-confirm-button") || word("confirm", "Confirm");
    return confirmDialog;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-confirm]") || form._portalConfirmed) { return; }
    if (typeof HTMLDialogElement !== "function") { return; }  // the server asks on a page instead
    event.preventDefault();
    var dialog = dialogFor(form);
    dialog.onclose = function () {
      if (dialog.returnValue !== "confirm") { return; }
      var confirm = document.createElement("input");
      confirm.type = "hidden";
      confirm.name = "confirm";
      confirm.value = "yes";
      form.appendChild(confirm);
      form._portalConfirmed = true;
      form.submit();
    };
    dialog.returnValue = "";
    dialog.showModal();
  });

  // A link to a confirmation page (a[data-confirm-form]) asks in the dialog instead, then posts its form.
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-confirm-form]");
    if (!link || typeof HTMLDialogElement !== "function") { return; }
    var form = document.getElementById(link.getAttribute("data-confirm-form"));
    if (!form || !form.requestSubmit) { return; }
    event.preventDefault();
    form.requestSubmit();
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (button) { event.preventDefault(); copy(button); }
  });

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("input[data-check-all]")) {
      var form = target.form;
      form.querySelectorAll('input[type="checkbox"][name="keys"]').forEach(function (box) { box.checked = target.checked; });
      updateSelection(form);
    } else if (target.matches('input[type="checkbox"][name="keys"]') && target.form) {
      updateSelection(target.form);
    } else if (target.matches("select[data-autosubmit]") && target.form) {
      target.form.submit();
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var active = document.activeElement;
    if (active && (active.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName))) { return; }
    var search = document.querySelector('input[type="search"]');
    if (search) { event.preventDefault(); search.focus(); search.select(); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-selection]").forEach(updateSelection);
  });
})();
