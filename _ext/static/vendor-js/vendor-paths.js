// Loaded after require.js and before the widget HTML manager (see _ext/self_contained.py): the manager
// asks require.js for the "anywidget" module; map that name to the copy served next to this file, so
// that no page loads it from a CDN. Absolute URLs, so pages at any depth (and file://) resolve it.
(function () {
  var here = document.currentScript.src.replace(/[?#].*$/, "").replace(/[^/]*$/, "");
  window.requirejs.config({ paths: { anywidget: here + "anywidget/index" } });
})();
