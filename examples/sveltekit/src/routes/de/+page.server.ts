export { load, actions } from '../+page.server';
