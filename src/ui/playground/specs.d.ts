/** The reference specs, bundled by scripts/build-playground.mjs from specs/*.gan (ring8 first). */
declare module "playground:specs" {
  const specs: { name: string; text: string }[];
  export default specs;
}
