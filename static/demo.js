// Demo host page: shows the visitor's stored decision as the host page's scripts would see it.
window.addEventListener("consent:change", (event) => {
  document.getElementById("consent-state").textContent = JSON.stringify(event.detail, null, 2);
});
