// Checklist item form: show only the fields of the chosen answer type (the server ignores the others anyway).
(function () {
  "use strict";
  var form = document.getElementById("item-form");
  var type = document.getElementById("id_answer_type");
  if (!form || !type) return;
  function update() {
    form.querySelectorAll("[data-for]").forEach(function (input) {
      var wrap = input.closest(".field");
      if (wrap) wrap.hidden = input.getAttribute("data-for").split(" ").indexOf(type.value) < 0;
    });
  }
  type.addEventListener("change", update);
  update();
})();
