// hostd dashboard: follow a site's logs by polling its JSON endpoint.
(function () {
  "use strict";
  var log = document.getElementById("log");
  var follow = document.getElementById("follow");
  if (!log || !follow) { return; }
  var url = log.dataset.url;
  var every = parseInt(log.dataset.poll, 10) || 2000;
  var last = "";

  function atBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  }

  function render(lines) {
    var text = lines.map(function (l) { return l.source + " " + l.text; }).join("\n");
    if (text === last) { return; }
    last = text;
    var stick = atBottom();
    var fragment = document.createDocumentFragment();
    lines.forEach(function (line) {
      var source = document.createElement("span");
      source.className = "src src-" + line.source;
      source.textContent = line.source;
      fragment.appendChild(source);
      fragment.appendChild(document.createTextNode(" " + line.text + "\n"));
    });
    log.replaceChildren(fragment);
    if (stick) { log.scrollTop = log.scrollHeight; }
  }

  function poll() {
    if (!follow.checked || document.hidden) { return; }
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 401) { window.location.reload(); return null; }
        return response.ok ? response.json() : null;
      })
      .then(function (data) { if (data) { render(data.lines); } })
      .catch(function () { /* the next poll tries again */ });
  }

  log.scrollTop = log.scrollHeight;
  window.setInterval(poll, every);
})();
