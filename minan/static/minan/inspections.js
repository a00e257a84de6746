// Inspections: the start page's checklist filter; on the execution page, every answer and photo saved
// as soon as it is given (one request per item, answered in JSON), a visible saved / not saved state per
// item with retry, and the two signature pads. No inline script, no dependency: without JavaScript every
// item form still posts normally and the page reloads with all saved answers.
(function () {
  "use strict";

  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  // --- start page: offer only the checklists meant for the kind of inspection and of institution ---------
  var start = document.querySelector("[data-start-form]");
  if (start) {
    var institution = start.querySelector("select[name=institution]");
    var kind = start.querySelector("select[name=kind]");
    var template = start.querySelector("select[name=template]");
    var words = function (option, name) {
      return (option.getAttribute(name) || "").split(" ").filter(Boolean);
    };
    var filter = function () {
      var chosen = institution.options[institution.selectedIndex];
      var institutionKind = chosen ? chosen.getAttribute("data-kind") || "" : "";
      each(template.options, function (option) {
        if (!option.value) return;
        var kinds = words(option, "data-kinds");
        var institutionKinds = words(option, "data-institution-kinds");
        var fits = (!kind.value || !kinds.length || kinds.indexOf(kind.value) >= 0) &&
          (!institutionKind || !institutionKinds.length || institutionKinds.indexOf(institutionKind) >= 0);
        option.hidden = !fits;
        option.disabled = !fits;
        if (!fits && option.selected) template.value = "";
      });
    };
    institution.addEventListener("change", filter);
    kind.addEventListener("change", filter);
    filter();
  }

  // --- execution page ----------------------------------------------------------------------------------
  var run = document.querySelector("[data-inspection-run]");
  if (!run) return;
  run.classList.add("js-on");
  var label = function (name) { return run.getAttribute("data-label-" + name) || ""; };
  var counter = run.querySelector("[data-answered]");
  var offline = new Set(); // forms that could not be sent: sent again when the connection returns
  var dirty = new Set(); // forms changed and not saved yet

  function token(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function itemOf(form) { return form.closest(".insp-item"); }

  function setState(item, state, text) {
    var el = item.querySelector(".save-state");
    el.setAttribute("data-state", state);
    el.textContent = text;
    var button = item.querySelector(".answer-form .save");
    if (button) button.textContent = state === "unsaved" || state === "error" ? label("retry") : label("save");
  }

  function showError(item, text) {
    var el = item.querySelector(".item-error");
    el.textContent = text || "";
    el.hidden = !text;
  }

  function addThumbs(item, photos) {
    var list = item.querySelector("ul.thumbs");
    photos.forEach(function (photo) {
      var li = document.createElement("li");
      var link = document.createElement("a");
      link.href = photo.url;
      link.target = "_blank";
      link.rel = "noopener";
      var img = document.createElement("img");
      img.src = photo.url;
      img.alt = photo.name;
      link.appendChild(img);
      li.appendChild(link);
      if (photo.taken_at) {
        var taken = document.createElement("span");
        taken.className = "help";
        taken.textContent = photo.taken_at;
        li.appendChild(taken);
      }
      list.appendChild(li);
    });
  }

  // A failed item appears in the submit form's list, with the choice of an open hazard to merge into.
  function applyOutcome(item, body) {
    item.setAttribute("data-outcome", body.outcome || "");
    if (counter && typeof body.answered === "number") counter.textContent = body.answered;
    var row = document.getElementById("merge-row-" + item.getAttribute("data-item"));
    if (row) {
      var failed = body.outcome === "fail";
      var select = row.querySelector("select");
      row.hidden = !failed;
      select.disabled = !failed;
      if (!failed) {
        select.value = "";
      } else if (select.options.length <= 1) {
        var options = document.getElementById("merge-options");
        if (options) select.appendChild(options.content.cloneNode(true));
      }
    }
    var none = run.querySelector("[data-no-failures]");
    if (none) none.hidden = !!run.querySelector(".failed-list li:not([hidden])");
  }

  function needsOutcome(form) {
    var radios = form.querySelectorAll("input[type=radio][name=outcome]");
    if (!radios.length || form.querySelector("textarea[name=text]")) return false;
    return !form.querySelector("input[type=radio][name=outcome]:checked");
  }

  // One request at a time per form; a change made meanwhile is sent when the first answer arrives.
  function save(form) {
    var item = itemOf(form);
    if (form.classList.contains("answer-form") && needsOutcome(form)) {
      setState(item, "unsaved", label("unsaved"));
      return;
    }
    if (form.dataset.busy) {
      form.dataset.again = "1";
      return;
    }
    form.dataset.busy = "1";
    setState(item, "saving", label("saving"));
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": token(form) }
    }).then(function (response) {
      return response.json().catch(function () { return { saved: false, message: label("unsaved") }; });
    }).then(function (body) {
      delete form.dataset.busy;
      offline.delete(form);
      if (form.dataset.again) {
        delete form.dataset.again;
        save(form);
        return;
      }
      if (body.saved) {
        dirty.delete(form);
        setState(item, "saved", label("saved") + (body.outcome_label ? ": " + body.outcome_label : ""));
        showError(item, "");
        applyOutcome(item, body);
        if (body.photos) {
          addThumbs(item, body.photos);
          form.reset();
        }
      } else {
        setState(item, "error", label("unsaved"));
        showError(item, body.message || label("unsaved"));
      }
    }, function () {
      delete form.dataset.busy;
      delete form.dataset.again;
      offline.add(form);
      setState(item, "unsaved", label("offline"));
      var retry = form.querySelector(".no-js-only");
      if (retry) retry.classList.remove("no-js-only");
    });
  }

  run.addEventListener("change", function (event) {
    var form = event.target.form;
    if (!form) return;
    if (form.classList.contains("answer-form")) {
      dirty.add(form);
      save(form);
    } else if (form.classList.contains("photo-form") && event.target.files && event.target.files.length) {
      dirty.add(form);
      save(form);
    }
  });
  run.addEventListener("input", function (event) {
    var form = event.target.form;
    if (!form || !form.classList.contains("answer-form")) return;
    if (event.target.tagName === "TEXTAREA" || event.target.type === "number") {
      dirty.add(form);
      setState(itemOf(form), "unsaved", label("unsaved"));
    }
  });
  run.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.classList.contains("answer-form") || form.classList.contains("photo-form")) {
      event.preventDefault();
      save(form);
    }
  });
  window.addEventListener("online", function () { offline.forEach(save); });
  window.addEventListener("beforeunload", function (event) {
    if (dirty.size && !run.dataset.submitting) {
      event.preventDefault();
      event.returnValue = label("leave");
    }
  });
  var submitForm = document.getElementById("submit-form");
  if (submitForm) submitForm.addEventListener("submit", function () { run.dataset.submitting = "1"; });
  each(run.querySelectorAll("#cancel form"), function (form) {
    form.addEventListener("submit", function () { run.dataset.submitting = "1"; });
  });

  // --- signature pads: drawn with a finger, kept as a PNG data URL in the hidden input -------------------
  each(run.querySelectorAll("canvas[data-signature]"), function (canvas) {
    var input = document.getElementById(canvas.getAttribute("data-signature"));
    var context = null;
    var drawing = false;

    function redraw() {
      if (!input.value) return;
      var image = new Image();
      image.onload = function () { context.drawImage(image, 0, 0, canvas.clientWidth, canvas.clientHeight); };
      image.src = input.value;
    }
    function fit() {
      var ratio = Math.min(window.devicePixelRatio || 1, 2);
      canvas.width = Math.round(canvas.clientWidth * ratio);
      canvas.height = Math.round(canvas.clientHeight * ratio);
      context = canvas.getContext("2d");
      context.setTransform(ratio, 0, 0, ratio, 0, 0);
      context.lineWidth = 2.5;
      context.lineCap = "round";
      context.lineJoin = "round";
      context.strokeStyle = "#111";
      redraw();
    }
    function point(event) {
      var box = canvas.getBoundingClientRect();
      return [event.clientX - box.left, event.clientY - box.top];
    }
    function end() {
      if (!drawing) return;
      drawing = false;
      input.value = canvas.toDataURL("image/png");
    }
    canvas.addEventListener("pointerdown", function (event) {
      event.preventDefault();
      drawing = true;
      if (canvas.setPointerCapture) canvas.setPointerCapture(event.pointerId);
      var p = point(event);
      context.beginPath();
      context.moveTo(p[0], p[1]);
      context.lineTo(p[0] + 0.1, p[1] + 0.1);
      context.stroke();
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!drawing) return;
      var p = point(event);
      context.lineTo(p[0], p[1]);
      context.stroke();
    });
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    var clear = run.querySelector("[data-signature-clear='" + canvas.id + "']");
    if (clear) {
      clear.addEventListener("click", function () {
        context.clearRect(0, 0, canvas.clientWidth, canvas.clientHeight);
        input.value = "";
      });
    }
    var width = canvas.clientWidth;
    window.addEventListener("resize", function () {
      if (canvas.clientWidth !== width) {
        width = canvas.clientWidth;
        fit();
      }
    });
    fit();
  });
})();
