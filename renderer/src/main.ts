import { mount } from 'svelte';
import App from './App.svelte';
import './styles/tokens.css';
import './styles/base.css';
import './styles/charts.css';
import './styles/tables.css';

const target = document.getElementById('app');
if (target === null) throw new Error('index.html has no #app element to mount Adjoin into');
mount(App, { target });
