// Live preview of the postmortem's Markdown sections while typing. The server renders and
// sanitizes (the same renderer as the page), so what shows here is what the page will show.
// Without JavaScript the form's "Preview" button does the same with a round trip.
(function () {
  "use strict";
  var form = document.getElementById("sections-form");
  if (!form || !window.fetch || !window.FormData) return;
  var url = form.getAttribute("data-preview-url");
  var tokenInput = form.querySelector("input[name=csrfmiddlewaretoken]");
  if (!url || !tokenInput) return;
  var DELAY_MS = 400;

  function bind(preview) {
    var area = document.getElementById(preview.getAttribute("data-preview-for"));
    var body = preview.querySelector(".md-preview-body");
    if (!area || !body) return;
    var timer = null;
    var sent = 0;

    function render() {
      var mine = ++sent;
      var data = new FormData();
      data.append("text", area.value);
      data.append("csrfmiddlewaretoken", tokenInput.value);
      fetch(url, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "X-CSRFToken": tokenInput.value },
      })
        .then(function (response) {
          return response.ok ? response.text() : Promise.reject(response.status);
        })
        .then(function (html) {
          if (mine !== sent) return; // a later keystroke's answer is on its way
          // Sanitized by the server's allow-list renderer, never the raw text.
          body.innerHTML = html || '<p class="muted">Nothing written yet.</p>';
          preview.classList.remove("is-stale");
        })
        .catch(function () {
          preview.classList.remove("is-stale");
        });
    }

    area.addEventListener("input", function () {
      preview.classList.add("is-stale");
      if (timer) clearTimeout(timer);
      timer = setTimeout(render, DELAY_MS);
    });
  }

  var previews = form.querySelectorAll(".md-preview[data-preview-for]");
  for (var i = 0; i < previews.length; i++) bind(previews[i]);
})();
