// Reloads the page every data-refresh seconds (body attribute), keeping the scroll position, and
// never while something is being typed or chosen in a form. Without JavaScript the page's
// <noscript> meta refresh reloads it instead.
(function () {
  "use strict";
  var every = Number(document.body.getAttribute("data-refresh") || 0);
  var key = "scroll:" + location.pathname + location.search;
  try {
    var y = sessionStorage.getItem(key);
    if (y !== null) {
      sessionStorage.removeItem(key);
      window.scrollTo(0, Number(y));
    }
  } catch (e) { /* no storage: the page starts at the top */ }
  if (!(every > 0)) {
    return;
  }
  function busy() {
    var a = document.activeElement;
    if (a && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName)) {
      return true;
    }
    var fields = document.querySelectorAll("textarea, input[type=text]");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value !== fields[i].defaultValue) {
        return true;
      }
    }
    return false;
  }
  setInterval(function () {
    if (busy()) {
      return;
    }
    try { sessionStorage.setItem(key, String(window.scrollY)); } catch (e) { /* reload anyway */ }
    location.reload();
  }, every * 1000);
})();
