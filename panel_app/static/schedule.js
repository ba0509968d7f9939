// Scheduling a meeting: offer only the chosen partnership's agencies. Without JavaScript every agency
// the broker works with is listed, and those not on the chosen panel are simply not invited.
const partnership = document.getElementById("partnership_id");
const boxes = [...document.querySelectorAll("input[name='invited'][data-partnerships]")];

function offer(tickAll) {
  for (const box of boxes) {
    const sitsOn = box.dataset.partnerships.split(" ").includes(partnership.value);
    // A class, not the hidden attribute: GOV.UK Frontend styles the item as flex, which would win.
    box.closest(".govuk-checkboxes__item").classList.toggle("govuk-!-display-none", !sitsOn);
    if (tickAll) box.checked = sitsOn;
  }
}

if (partnership && boxes.length) {
  offer(false);
  partnership.addEventListener("change", () => offer(true));
}
